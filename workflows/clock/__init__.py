"""The worker's clock: periodic work (outbox drain, poller, checks, daily jobs) and the recovery of jobs Redis lost."""
