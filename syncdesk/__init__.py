"""The wiring on top: the web app, the `syncdesk` command and the worker start-up. It may import every layer; nothing imports it."""
