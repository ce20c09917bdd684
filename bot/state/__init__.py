"""State: leases, alerts, manifests, confirmations and the audit log, over a small store."""
