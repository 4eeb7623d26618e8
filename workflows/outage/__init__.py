"""A burst of failures at one system is one outage: detection at intake, the outage view, its jobs (parent message, page, all-clear) and Reprocess all."""
