"""EMS Premier (spa): the manual playbook, because Premier publishes no booking API.

What the sources say:
- The operations manual (`shared/sources/000_b03b22bf70da5413.txt`): a spa booking that
  failed to sync is made by hand in Premier as an "offline" reservation with the guest
  details from the order, and the deposit is assigned to the e-commerce payment method
  (e.g. onejourney / ecommerce / revspa) "to ensure your end-of-day accounts balance".
- A search of public documentation (developer portals, API references, code) found no
  public EMS Premier booking API: integrations are made by EMS and its partners. So
  syncdesk does not invent one.

A site whose Premier sits behind middleware with a REST endpoint routes `premier` (for
its property) to the configurable REST connector, `connectors.pms`, in the routing file
(`connectors.routing`) and gets automatic reprocess; everyone else gets these steps.
The payment methods come from `PREMIER_PAYMENT_METHODS` (comma-separated). Who to contact
about an error nobody recognises: PREMIER_SUPPORT_CONTACT (no public support address found:
unverified; set the one your contract names).
"""

from __future__ import annotations

from connectors.playbook import PlaybookConnector, detail, guest_line, when_line
from connectors.types import BookingRequest


class PremierPlaybook(PlaybookConnector):
    system = "premier"
    name = "EMS Premier"
    booked_means = "an offline reservation exists in Premier with the deposit on the e-commerce payment method"
    why_manual = "EMS Premier publishes no booking API"
    manual_fields = ("reference", "payment_method")

    def __init__(self, payment_methods: tuple[str, ...] = ("onejourney", "ecommerce", "revspa"),
                 support: str = "") -> None:
        super().__init__(support)  # PREMIER_SUPPORT_CONTACT
        self._payment_methods = payment_methods  # PREMIER_PAYMENT_METHODS

    def payment_methods(self) -> tuple[str, ...]:
        """The e-commerce payment methods a manual deposit may be assigned to."""
        return self._payment_methods

    def steps(self, item: BookingRequest | None) -> tuple[str, ...]:
        treatment = item.description if item is not None else "the treatment on the order"
        code = detail(item, "treatment_code", "")
        site = detail(item, "site_code", "the spa")
        deposit = "the deposit"
        if item is not None and isinstance(item.details.get("deposit_minor"), int):
            deposit = f"the deposit ({item.details['deposit_minor'] / 100:.2f})"
        methods = " / ".join(self.payment_methods()) or "the e-commerce payment method"
        return (
            f"In EMS Premier, open {site} and create an *offline* reservation: {treatment}"
            f"{f' ({code})' if code else ''} on {when_line(item, 'start_time')}.",
            f"Use the guest details from the order: {guest_line(item)}.",
            f"Assign {deposit} to the e-commerce payment method ({methods}), not cash or card, "
            "so the end-of-day accounts balance.",
            "Note Premier's reservation number, then use Booked manually with that number "
            "and the payment method you assigned the deposit to.",
        )
