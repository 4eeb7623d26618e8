"""Microsoft Teams: Adaptive Card alerts posted through the Bot Connector, and the inbound
`POST /api/teams/messages` endpoint for card actions and lookups. See `teams/README.md`.
"""
