"""Adapters: Postgres, Redis, the acquirer simulator, the card vault, the clock."""
