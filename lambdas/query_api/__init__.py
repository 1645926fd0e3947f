"""The query API: the dashboard's read-only HTTP API over the inventory tables."""
