"""Siriusware (accesso Siriusware Sales: tickets, rentals, lessons): the manual playbook.

What the sources say:
- Aspenware's Order Queue page (`shared/sources/001_91593d738c287bb0.txt`): Siriusware is
  one of the POS systems the resort e-commerce order queue sends orders to.
- Inntopia's Siriusware two-way integration page
  (https://help.inntopia.com/1378090/Content/Integrations/POS/Siriusware/Siriusware.htm):
  partner integrations create Siriusware orders from Department-Category-Item (DCI)
  products with a dedicated payment type for all sales from the web channel, through
  Siriusware's own components — not a documented public API.
- No public Siriusware booking API documentation was found (documentation sites, pages,
  code). So syncdesk does not invent one.

A resort with middleware exposing a REST endpoint routes `siriusware` to the configurable
REST connector (`connectors.pms`) in the routing file and gets automatic reprocess.

Who to contact about an error nobody recognises: SIRIUSWARE_SUPPORT_CONTACT (accesso publishes
no support address: unverified; set the one your contract names).
"""

from __future__ import annotations

from connectors.playbook import PlaybookConnector, detail, guest_line, when_line
from connectors.types import BookingRequest


class SiriuswarePlaybook(PlaybookConnector):
    system = "siriusware"
    name = "Siriusware"
    booked_means = "the sale exists in Siriusware Sales for the guest"
    why_manual = "Siriusware publishes no public booking API"

    def steps(self, item: BookingRequest | None) -> tuple[str, ...]:
        product = item.description if item is not None else "the item on the order"
        dci = " / ".join(
            v for v in (detail(item, "department", ""), detail(item, "item_code", "")) if v
        )
        quantity = item.quantity if item is not None else "the quantity on the order"
        profile = item.details.get("rental_profile") if item is not None else None
        rental = ""
        if isinstance(profile, dict) and profile:
            rental = " Enter the rental profile: " + ", ".join(f"{k} {v}" for k, v in profile.items()) + "."
        return (
            f"In Siriusware Sales, find or create the guest record: {guest_line(item)}.",
            f"Sell {product}{f' (department / item {dci})' if dci else ''} for {when_line(item)}, "
            f"quantity {quantity}.{rental}",
            "Tender it to the dedicated e-commerce payment type, so the sale is not paid twice.",
            "Note the Siriusware sale number, then use Booked manually with it.",
        )
