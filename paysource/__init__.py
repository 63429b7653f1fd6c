"""paysource: an event-sourced CQRS financial core for payment processing."""

__version__ = "0.1.0"
