"""The read-only lookups behind Teams' answers: where each order's alert card is, as a link
people can open. Nothing here writes.

A channel message's deep link is `https://teams.microsoft.com/l/message/<channel id>/<message
id>?tenantId=<tenant>&parentMessageId=<message id>` ("Deep link to a chat/channel message",
learn.microsoft.com/microsoftteams/platform/concepts/build-and-test/deep-link-teams); the
card's activity id is its message id.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from sqlalchemy import select

from workflows.core.db import transaction
from workflows.core.models import Alert
from workflows.core.settings import Settings


def message_link(conversation: str, message_id: str, tenant: str | None) -> str:
    query = {"parentMessageId": message_id} | ({"tenantId": tenant} if tenant else {})
    return (f"https://teams.microsoft.com/l/message/{quote(conversation.split(';', 1)[0], safe='')}/"
            f"{quote(message_id, safe='')}?{urlencode(query)}")


def alert_links(settings: Settings, order_ids: list[str]) -> dict[str, str]:
    """Each order's Teams alert card, by order id (orders without a posted card are left out)."""
    if not order_ids:
        return {}
    with transaction(settings.database_url) as session:
        alerts = session.scalars(select(Alert).where(
            Alert.order_id.in_(order_ids), Alert.surface == "teams", Alert.channel.is_not(None),
            Alert.message_id.is_not(None))).all()
        return {a.order_id: message_link(a.channel or "", a.message_id or "", settings.teams_tenant_id)
                for a in alerts if a.message_id and not a.message_id.startswith("log:")}
