"""The core of syncdesk: models, database, state machine, services, jobs and schedules."""
