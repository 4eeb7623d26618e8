"""The arrival check (issue 25): before guests arrive, prove that each paid booking exists
in the system where the guest will be met (`check`), and say so per property and day
(`findings.DaySummary`, shown by each chat surface's `check.boards`)."""
