"""Retail orders await dispatch, not a sync: the overdue reminder and the Dispatched action."""
