"""Adapters for Redis and Slack behind the small interfaces the core uses."""
