"""The card vault of test mode: the well-known test tokens and the cards behind them.

In production a vault (or the acquirer's tokenization) holds the card number and
gives us a token; all we ever see is the token, brand, BIN and last four digits.
"""

from __future__ import annotations

from paysource.domain.card import CardDetails

TEST_CARDS: dict[str, tuple[str, str, str]] = {
    # token: (brand, BIN, last 4)
    "tok_visa": ("visa", "424242", "4242"),
    "tok_mastercard": ("mastercard", "555555", "4444"),
    "tok_decline": ("visa", "400000", "0002"),
    "tok_insufficient_funds": ("visa", "400000", "9995"),
    "tok_risk": ("visa", "410000", "0019"),
    "tok_timeout": ("visa", "400000", "0077"),
    "tok_refund_fail": ("visa", "400000", "5126"),
    "tok_auth_lost": ("visa", "400000", "3220"),
    "tok_refund_lost": ("visa", "400000", "4321"),
    "tok_capture_refused": ("visa", "400000", "8841"),
    "tok_disputed": ("visa", "400000", "0259"),
    "tok_capture_refused_once": ("visa", "400000", "8858"),
}


class TestCardVault:
    def describe(self, token: str) -> CardDetails | None:
        card = TEST_CARDS.get(token)
        if card is None:
            return None
        brand, bin_, last4 = card
        return CardDetails(token=token, brand=brand, bin=bin_, last4=last4)
