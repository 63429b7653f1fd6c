"""The command side: application services, the authorization pipeline, log followers.

Services load aggregates from the event store, call their commands and save once.
They know the ports (acquirer, card vault, clock, caches) only as protocols; the
composition root (`paysource.bootstrap`) plugs in the adapters.
"""
