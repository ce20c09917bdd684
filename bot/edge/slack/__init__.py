"""The Slack edge: the Web API client, alerts (the notifier), user groups, the start-up checks."""
