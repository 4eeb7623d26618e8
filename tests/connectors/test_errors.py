"""Error classes: an unknown error's next step names who to contact for the system."""

from __future__ import annotations

import pytest

from connectors.errors import ERROR_FOR_CLASS, ErrorClass, NeedsReview, UnknownFailure

ASPENWARE = "Aspenware support (support@aspenware.com)"


def test_an_unknown_errors_next_step_names_the_systems_support_contact():
    step = ErrorClass.UNKNOWN.next_step_for(ASPENWARE)

    assert "contact Aspenware support (support@aspenware.com)" in step
    assert "integration team" not in step


def test_without_a_contact_it_says_the_systems_support_never_the_integration_team():
    assert "the system's support" in ErrorClass.UNKNOWN.next_step
    assert all("integration team" not in c.next_step for c in ErrorClass)


def test_a_server_error_that_persists_names_the_contact_too():
    assert "contact Mews partner support" in ErrorClass.SERVER_ERROR.next_step_for("Mews partner support")


@pytest.mark.parametrize("cls", [c for c in ErrorClass if c not in (ErrorClass.UNKNOWN, ErrorClass.SERVER_ERROR)])
def test_other_classes_next_steps_do_not_change_with_the_contact(cls):
    assert cls.next_step_for(ASPENWARE) == cls.next_step


def test_the_error_carries_the_contact_and_its_next_step_names_it():
    error = UnknownFailure("RTP|Connect said something new", support=ASPENWARE)

    assert error.support == ASPENWARE and ASPENWARE in error.next_step


def test_needs_review_is_its_own_permanent_class():
    assert ERROR_FOR_CLASS[ErrorClass.NEEDS_REVIEW] is NeedsReview
    assert not NeedsReview("held").transient
    assert "Booked manually" in ErrorClass.NEEDS_REVIEW.next_step
