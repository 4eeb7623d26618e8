"""Connectors: one HTTP client per external system, plus the platform and Stripe.

`workflows.systems.registry.connector_for` is how `workflows` gets a `BookingConnector` for an
item. Connector modules are imported lazily so importing `connectors.errors` stays cheap.
"""
