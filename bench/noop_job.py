"""The job-overhead baseline: an RQ job that does nothing, in a module that imports nothing,
so a work horse spends its time on RQ's own bookkeeping only."""


def noop() -> None:
    return None
