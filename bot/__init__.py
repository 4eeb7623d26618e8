"""The chat surfaces: Slack (Bolt) and Teams. Rendering is pure; handlers are thin."""
