"""Slack Block Kit messages and views, built from the core's results (pure)."""
