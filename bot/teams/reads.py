"""Teams' side of the read-only lookups (`workflows.orders.reads`): where each order's alert
card is, as a link people can open. Nothing here touches the tables.

A channel message's deep link is `https://teams.microsoft.com/l/message/<channel id>/<message
id>?tenantId=<tenant>&parentMessageId=<message id>` ("Deep link to a chat/channel message",
learn.microsoft.com/microsoftteams/platform/concepts/build-and-test/deep-link-teams); the
card's activity id is its message id.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from workflows.core.settings import Settings
from workflows.orders.reads import posted_alerts


def message_link(conversation: str, message_id: str, tenant: str | None) -> str:
    query = {"parentMessageId": message_id} | ({"tenantId": tenant} if tenant else {})
    return (f"https://teams.microsoft.com/l/message/{quote(conversation.split(';', 1)[0], safe='')}/"
            f"{quote(message_id, safe='')}?{urlencode(query)}")


def alert_links(settings: Settings, order_ids: list[str]) -> dict[str, str]:
    """Each order's Teams alert card, by order id (orders without a posted card are left out)."""
    return {order_id: message_link(conversation, message_id, settings.teams_tenant_id)
            for order_id, (conversation, message_id) in posted_alerts(settings, order_ids, "teams").items()}
