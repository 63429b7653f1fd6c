"""Risk rules: pure functions from a payment's facts to an outcome and a score."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from paysource.domain.card import CardDetails
from paysource.domain.money import Money


class RiskOutcome(StrEnum):
    NORMAL = "normal"
    ELEVATED = "elevated"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class RiskPolicy:
    # 410000 is the BIN of the `tok_risk` test card (as Stripe's 4100 0000 0000 0019).
    blocked_bins: frozenset[str] = frozenset({"410000"})
    # In major units (dollars, yen, dinars), so one policy fits every currency's decimals.
    review_amount_major: int = 5_000
    block_amount_major: int = 1_000_000
    velocity_window: timedelta = timedelta(minutes=10)
    velocity_limit: int = 20
    elevated_score: int = 50


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    outcome: RiskOutcome
    score: int
    reasons: tuple[str, ...] = field(default=())

    @property
    def blocked(self) -> bool:
        return self.outcome is RiskOutcome.BLOCKED


def assess(
    policy: RiskPolicy, *, amount: Money, card: CardDetails, recent_payments: int
) -> RiskAssessment:
    """Score a payment. `recent_payments` counts the customer's payments in the window.

    Each rule adds to the score; a blocking rule blocks whatever the total.
    """
    score, reasons, blocking = 0, [], False
    unit = 10**amount.exponent
    rules = (
        (card.bin in policy.blocked_bins, 100, "card_bin_blocked", True),
        (amount.amount_minor >= policy.block_amount_major * unit, 90, "amount_over_limit", True),
        (amount.amount_minor >= policy.review_amount_major * unit, 50, "amount_high", False),
        (recent_payments >= policy.velocity_limit, 80, "customer_velocity", True),
    )
    for applies, points, reason, blocks in rules:
        if applies:
            score += points
            reasons.append(reason)
            blocking = blocking or blocks
    score = min(score, 100)
    if blocking:
        outcome = RiskOutcome.BLOCKED
    elif score >= policy.elevated_score:
        outcome = RiskOutcome.ELEVATED
    else:
        outcome = RiskOutcome.NORMAL
    return RiskAssessment(outcome, score, tuple(reasons))
