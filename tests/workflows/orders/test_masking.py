"""How chat shows a masked guest (issue 28, `workflows.orders.masking`): the e-mail's first
letter and domain, the phone's country code and last four digits, the surname's initial."""

from __future__ import annotations

from workflows.orders import masking


def test_masked_details_keep_only_what_tells_guests_apart():
    assert masking.email("larry.walker@example.com") == "l***@example.com"
    assert masking.email("nonsense") == "***" and masking.email("") == ""
    assert masking.phone("+44 5551234567") == "+44 ••• ••• 4567"
    assert masking.phone("+1 212 555 0100") == "+1 ••• ••• 0100"
    assert masking.phone("+445551234567") == "••• ••• 4567"  # no country code written apart: none shown
    assert masking.phone("(555) 123-4567") == "••• ••• 4567"
    assert masking.phone("12345") == "••• ••• ••••" and masking.phone("") == ""
    assert masking.name("Larry", "Walker") == "Larry W." and masking.name("Larry", "") == "Larry"
    assert masking.name("", "Walker") == "W."
