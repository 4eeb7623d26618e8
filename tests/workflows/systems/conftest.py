"""The registry builds connectors against the same fake servers as the connector tests."""

from tests.connectors.conftest import item, mews_fake, resdiary_fake, synxis_fake  # noqa: F401  (fixtures)
