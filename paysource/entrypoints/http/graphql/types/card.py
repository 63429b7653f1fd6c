"""The card a payment was made with: never the number, only what can be shown."""

from __future__ import annotations

import strawberry


@strawberry.type
class Card:
    brand: str
    bin: str
    last4: str


@strawberry.type(description="What the risk rules concluded before the acquirer was asked.")
class Risk:
    outcome: str
    score: int
    reasons: list[str]
