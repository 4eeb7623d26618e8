"""Plumbing every domain may import: settings, the database and its schema, the state machine, the outbox and RQ queues, the intake signature, and the ports the chat layer plugs into."""
