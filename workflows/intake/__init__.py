"""How failures arrive: the signed webhook and the poller that finds orders stuck In Progress."""
