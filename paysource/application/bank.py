"""The bank rail for payouts, as the application sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from paysource.domain.money import Money


@dataclass(frozen=True, slots=True)
class PayoutResult:
    accepted: bool
    reference: str = ""
    reason: str = ""


class BankTimeout(Exception):
    """The rail did not answer: the payout may or may not have been made."""


class BankRail(Protocol):
    """Every payout carries an idempotency key: the same key is paid at most once."""

    def payout(self, *, idempotency_key: str, merchant_id: UUID, amount: Money) -> PayoutResult: ...

    def settle_unknown(self, *, idempotency_key: str) -> PayoutResult | None:
        """After timeouts: the payout's outcome if the rail made it; otherwise make sure
        it never will (cancel the key) and return None."""
        ...
