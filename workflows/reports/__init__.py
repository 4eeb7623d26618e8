"""Daily reading of the books: the digest of yesterday's failures and the reconciliation against the platform and Stripe."""
