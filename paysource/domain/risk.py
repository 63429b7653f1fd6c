"""Risk rules: pure functions from a payment's facts to an outcome and a score.

Amount limits are stated once, in US cents, and every payment is measured against
them at its value in US dollars: exactly (a `Fraction`, no rounding, so the same
value in any currency gets the same decision), at the operator's loaded rate of its
currency when there is one (`to_usd`), else at the built-in reference value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from fractions import Fraction

from paysource.domain.card import CardDetails
from paysource.domain.money import Money
from paysource.domain.rates import Rate, exact_conversion
from paysource.domain.reference_values import REFERENCE_CURRENCY, units_per_usd


class RiskOutcome(StrEnum):
    NORMAL = "normal"
    ELEVATED = "elevated"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class RiskPolicy:
    # 410000 is the BIN of the `tok_risk` test card (as Stripe's 4100 0000 0000 0019).
    blocked_bins: frozenset[str] = frozenset({"410000"})
    # In US cents; other currencies are valued in US cents to compare (`usd_value`).
    review_amount_usd_minor: int = 500_000  # USD 5,000
    block_amount_usd_minor: int = 100_000_000  # USD 1,000,000
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


def usd_value(amount: Money, rate: Rate | None = None) -> Fraction:
    """`amount` in US cents, exactly. `rate` is a loaded rate between the amount's
    currency and USD, either way round; None: the built-in reference value."""
    if amount.currency == REFERENCE_CURRENCY:
        return Fraction(amount.amount_minor)
    if rate is not None and (rate.base, rate.quote) == (amount.currency, REFERENCE_CURRENCY):
        return rate.exact(amount.amount_minor)
    if rate is not None and (rate.base, rate.quote) == (REFERENCE_CURRENCY, amount.currency):
        return amount.amount_minor / rate.exact(1)
    # Minor units of the currency per US cent, at the reference value.
    per_cent = exact_conversion(
        1, REFERENCE_CURRENCY, amount.currency, units_per_usd(amount.currency)
    )
    return amount.amount_minor / per_cent


def assess(
    policy: RiskPolicy,
    *,
    amount: Money,
    card: CardDetails,
    recent_payments: int,
    rate: Rate | None = None,
) -> RiskAssessment:
    """Score a payment. `recent_payments` counts the customer's payments in the window;
    `rate` values the amount in USD (see `usd_value`).

    Each rule adds to the score; a blocking rule blocks whatever the total.
    """
    score, reasons, blocking = 0, [], False
    value = usd_value(amount, rate)
    rules = (
        (card.bin in policy.blocked_bins, 100, "card_bin_blocked", True),
        (value >= policy.block_amount_usd_minor, 90, "amount_over_limit", True),
        (value >= policy.review_amount_usd_minor, 50, "amount_high", False),
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
