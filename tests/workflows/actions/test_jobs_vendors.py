"""Issue 12 end to end: a Reprocess as a real RQ job against the SynXis fake, on the real
database. A search SynXis answers unreadably books nothing; a PendingModify reservation is
found, not patched; an unknown error is audited with SynXis' support contact as the next step."""

from __future__ import annotations

from tests.workflows.actions.test_jobs import (  # noqa: F401  (fixtures and helpers)
    ORDER,
    attempts,
    audit,
    item,
    outcome,
    seed,
    world,
)
from workflows.actions import requests as actions

RESERVATION = "/v1/api/reservation"


def test_a_search_synxis_answers_unreadably_books_nothing(world):
    seed(world, code="data_format")
    world.synxis.answer_garbage(b"", status=200, method="GET", path=RESERVATION, times=-1)
    world.start_worker(world.settings)

    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")

    assert outcome(world, ack.job_id) == ("failed: unknown: SynXis answered the reservation search with an empty "
                                          "body; syncdesk cannot tell whether the reservation exists, so it will not "
                                          "create one.")
    assert world.posts == [] and world.synxis.reservations() == {}
    assert "will not create one" in attempts(world)[-1].message
    assert item(world).status == "In Progress"


def test_a_pending_modify_reservation_is_found_and_not_patched(world):
    seed(world, code="timeout")
    number = world.synxis.seed_reservation(reference=f"{ORDER}/ITEM-1", status="PendingModify")
    world.start_worker(world.settings)

    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")

    assert outcome(world, ack.job_id) == f"success: found {number}"
    assert world.patches == [] and world.posts == []
    assert item(world).status == "Confirmed"


def test_an_unknown_error_is_audited_with_the_systems_support_contact(world):
    seed(world, code="data_format")
    world.synxis.fail_with_status(418, method="POST", path=RESERVATION)
    world.start_worker(world.but(synxis_support_contact="Harbourview IT (it@harbourview.example)"))

    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")

    assert outcome(world, ack.job_id) == "failed: unknown: SynXis answered POST /v1/api/reservation with HTTP 418: injected 418"
    [failed] = audit(world, "reprocess.failed")
    assert "contact Harbourview IT (it@harbourview.example)" in failed.detail["next_step"]
