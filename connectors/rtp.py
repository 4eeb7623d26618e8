"""Aspenware RTP|One (resort POS: lift tickets, lessons, rentals): the manual playbook.

What the sources say:
- Aspenware's Order Queue pages (`shared/sources/001_91593d738c287bb0.txt`, and
  https://aspenware.atlassian.net/wiki/spaces/AE/pages/2562031888/Checking+Order+Status+and+Details):
  orders placed in Aspenware Commerce are sent to RTP|One through an order queue
  (created / ready → processing → success | failed); View Details shows the RTP|Connect
  log of a failure ("typically nopCommerce or RTP|One product setup"); an admin fixes the
  cause and clicks Set Ready to reprocess; order history is checked in RTP (Customer >
  Order History > Transaction Viewer).
- RTP|Connect, the interface Aspenware Commerce uses to create sales in RTP|One, has no
  public documentation: a search of documentation sites, pages and code found none (only
  the admin how-tos above). So syncdesk does not invent its wire format.

A resort with middleware exposing a REST endpoint for RTP|One routes `rtp` to the
configurable REST connector (`connectors.pms`) in the routing file and gets automatic
reprocess.

Who to contact about an error nobody recognises: Aspenware, "Please contact Aspenware at
support@aspenware.com if the error messaging on this details page does not point to a known
and fixable cause" (source 001); RTP_SUPPORT_CONTACT, carried in `describe().support`.
"""

from __future__ import annotations

from connectors.playbook import PlaybookConnector, detail, guest_line, when_line
from connectors.types import BookingRequest


class RtpPlaybook(PlaybookConnector):
    system = "rtp"
    name = "Aspenware RTP|One"
    booked_means = "the sale exists in RTP|One (order queue status success, or a sale made by hand)"
    why_manual = "RTP|One's integration interface (RTP|Connect) is not publicly documented"

    def steps(self, item: BookingRequest | None) -> tuple[str, ...]:
        order = item.order_id if item is not None else "the order"
        product = item.description if item is not None else "the product on the order"
        code = detail(item, "product_code", "")
        quantity = item.quantity if item is not None else "the quantity on the order"
        return (
            f"In Aspenware Commerce admin, open Plugins > Order Queue, find order {order} and click "
            "View Details to read the RTP|Connect log.",
            "If the cause is a product or configuration mismatch you can fix in RTP|One, fix it and click "
            "Set Ready: the order queue sends the order again.",
            f"Otherwise make the sale by hand in RTP|One: find or create the customer ({guest_line(item)}), "
            f"add {product}{f' ({code})' if code else ''} for {when_line(item)}, quantity {quantity}, "
            "tendered to the e-commerce payment type.",
            "Check RTP > Customer > Order History (Transaction Viewer) shows the sale, then use Booked "
            "manually with the RTP order or transaction number.",
        )
