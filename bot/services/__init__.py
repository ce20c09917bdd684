"""The services behind every command: protect, retag, restore, queries, and the alert loop."""
