"""Issue 24.5: a SynXis reservation search that stops at its page size without saying so.

Sabre documents paging (`pageStart`/`pageSize`, the `paging` node) for the Hotel List only, so
a reservation search may answer a full page with no `paging` node. A full page is "maybe more":
the next one is asked for until a short page, and the warning is logged."""

from __future__ import annotations

import logging

import pytest

from connectors.errors import UnknownFailure

SEARCH = "/v1/api/reservation"


def by_reference(fake) -> list:
    """The requests of the search by our reference (check-first's other key, by guest, follows it)."""
    return [r for r in fake.requests_to("GET", SEARCH) if r.param("externalReferenceNumber")]


def seed_others(fake, n: int) -> None:
    for k in range(n):
        fake.seed_reservation(reference=f"ORD-9{k:04d}/ITEM-1", surname="Other", start="2026-12-03")


def test_a_full_page_without_a_paging_node_is_followed_to_the_booking_on_page_two(synxis, synxis_fake, item,
                                                                                    caplog):
    synxis_fake.broad_search = True  # the CRS answers the whole hotel ...
    synxis_fake.answers_paging = False  # ... 50 a page, and never says there is more
    seed_others(synxis_fake, 50)
    ours = synxis_fake.seed_reservation(reference=item.reference, surname="Someone-Else")

    with caplog.at_level(logging.WARNING, logger="connectors.synxis"):
        found = synxis.find_existing(item)

    assert found is not None and found.confirmation == ours
    first, second = by_reference(synxis_fake)  # page 2 held one: a short page, the last
    assert first.param("pageSize") == second.param("pageSize") == "50"
    assert (first.param("pageStart"), second.param("pageStart")) == (None, "51")
    assert "full page" in caplog.text and "pageStart=51" in caplog.text


def test_a_short_page_is_the_last_and_nothing_is_logged(synxis, synxis_fake, item, caplog):
    synxis_fake.answers_paging = False
    ours = synxis_fake.seed_reservation(reference=item.reference)

    with caplog.at_level(logging.WARNING, logger="connectors.synxis"):
        assert synxis.find_existing(item).confirmation == ours

    assert len(by_reference(synxis_fake)) == 1 and "full page" not in caplog.text


def test_the_page_size_asked_for_is_the_one_a_full_page_is_measured_by(synxis_with, synxis_fake, item):
    synxis_fake.broad_search = True
    synxis_fake.answers_paging = False
    seed_others(synxis_fake, 4)
    ours = synxis_fake.seed_reservation(reference=item.reference, surname="Someone-Else")

    assert synxis_with(page_size=2).find_existing(item).confirmation == ours

    assert [r.param("pageStart") for r in by_reference(synxis_fake)] == [None, "3", "5"]


def test_a_crs_that_answers_the_first_page_again_stops_the_check(synxis_with, synxis_fake, item):
    synxis_fake.broad_search = True
    synxis_fake.answers_paging = False
    synxis_fake.ignore_paging = True  # pageStart is not understood: page 1, again and again
    seed_others(synxis_fake, 4)
    synxis_fake.seed_reservation(reference=item.reference, surname="Someone-Else")

    with pytest.raises(UnknownFailure, match="would not give the rest"):
        synxis_with(page_size=2).find_existing(item)
    assert len(synxis_fake.requests_to("GET", SEARCH)) == 2
