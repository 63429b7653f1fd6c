"""Read models, each kept by one projection of the event log.

A projection applies events to its view in batches; each batch's rows and its
tracking position commit in one transaction, so every event takes effect exactly
once, and a view can be dropped and rebuilt from the first event.
"""
