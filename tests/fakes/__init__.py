"""Local fake servers for the external systems (SynXis, the platform, Stripe).

Each fake is a `FakeServer` (tests/fakes/http.py): a threaded loopback HTTP server with a
request log and fault injection, speaking the real system's wire format.
"""

from tests.fakes.http import FakeServer, RecordedRequest, Reply
from tests.fakes.platform import FakePlatform
from tests.fakes.stripe import FakeStripe
from tests.fakes.synxis import FakeSynxis

__all__ = ["FakePlatform", "FakeServer", "FakeStripe", "FakeSynxis", "RecordedRequest", "Reply"]
