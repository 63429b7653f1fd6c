"""The `events` read model: which merchant each public event belongs to (the feed)."""
