"""Risk rules: each rule adds to the score, a blocking rule blocks whatever the total."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from paysource.domain.card import CardDetails
from paysource.domain.money import Money
from paysource.domain.rates import Rate
from paysource.domain.risk import RiskAssessment, RiskOutcome, RiskPolicy, assess

POLICY = RiskPolicy()
SAFE_CARD = CardDetails("tok_visa", "visa", "424242", "4242")
RISK_CARD = CardDetails("tok_risk", "visa", "410000", "0019")


def risk_of(
    amount_minor: int = 1_000,
    *,
    card: CardDetails = SAFE_CARD,
    recent_payments: int = 0,
    policy: RiskPolicy = POLICY,
) -> RiskAssessment:
    return assess(
        policy, amount=Money(amount_minor, "USD"), card=card, recent_payments=recent_payments
    )


def test_a_small_payment_on_a_safe_card_is_normal_with_no_reasons() -> None:
    assert risk_of() == RiskAssessment(RiskOutcome.NORMAL, 0, ())
    assert not risk_of().blocked


def test_a_card_with_a_blocked_bin_is_blocked() -> None:
    assessment = risk_of(card=RISK_CARD)

    assert assessment == RiskAssessment(RiskOutcome.BLOCKED, 100, ("card_bin_blocked",))
    assert assessment.blocked


@pytest.mark.parametrize(
    ("amount", "outcome", "score", "reasons"),
    [
        (499_999, RiskOutcome.NORMAL, 0, ()),
        (500_000, RiskOutcome.ELEVATED, 50, ("amount_high",)),
        (99_999_999, RiskOutcome.ELEVATED, 50, ("amount_high",)),
        (100_000_000, RiskOutcome.BLOCKED, 100, ("amount_over_limit", "amount_high")),
    ],
)
def test_amount_thresholds_elevate_then_block(
    amount: int, outcome: RiskOutcome, score: int, reasons: tuple[str, ...]
) -> None:
    assert risk_of(amount) == RiskAssessment(outcome, score, reasons)


@pytest.mark.parametrize(
    ("recent", "outcome", "score"), [(19, RiskOutcome.NORMAL, 0), (20, RiskOutcome.BLOCKED, 80)]
)
def test_velocity_blocks_from_the_limit_of_recent_payments(
    recent: int, outcome: RiskOutcome, score: int
) -> None:
    assessment = risk_of(recent_payments=recent)

    assert (assessment.outcome, assessment.score) == (outcome, score)
    assert ("customer_velocity" in assessment.reasons) == (outcome is RiskOutcome.BLOCKED)


def test_a_blocking_rule_blocks_even_when_the_score_is_below_the_elevated_score() -> None:
    lenient = RiskPolicy(elevated_score=95)

    assert risk_of(recent_payments=20, policy=lenient).outcome is RiskOutcome.BLOCKED


def test_every_rule_that_applies_is_a_reason_and_the_score_is_capped_at_100() -> None:
    assessment = risk_of(600_000, card=RISK_CARD, recent_payments=25)

    assert assessment.score == 100
    assert assessment.reasons == ("card_bin_blocked", "amount_high", "customer_velocity")


def test_the_policy_decides_which_bins_are_blocked() -> None:
    policy = RiskPolicy(blocked_bins=frozenset({"424242"}))

    assert risk_of(card=SAFE_CARD, policy=policy).blocked
    assert not risk_of(card=RISK_CARD, policy=policy).blocked


@pytest.mark.parametrize(
    ("amount_minor", "currency", "outcome"),
    [
        (499_999, "USD", RiskOutcome.NORMAL),
        (500_000, "USD", RiskOutcome.ELEVATED),
        # USD 5,000 at the reference values: JPY 775,000 (155 per USD) ...
        (774_999, "JPY", RiskOutcome.NORMAL),
        (775_000, "JPY", RiskOutcome.ELEVATED),
        # ... and KWD 1,535.000 (0.307 per USD).
        (1_534_999, "KWD", RiskOutcome.NORMAL),
        (1_535_000, "KWD", RiskOutcome.ELEVATED),
        # The examples of issue 11, no longer whole units of any currency:
        (1_000_000, "JPY", RiskOutcome.ELEVATED),  # ≈ USD 6,450: reviewed, not blocked
        (5_000_000, "KWD", RiskOutcome.ELEVATED),  # ≈ USD 16,300: reviewed
        (5_000, "JPY", RiskOutcome.NORMAL),  # ≈ USD 32
        (155_000_000, "JPY", RiskOutcome.BLOCKED),  # USD 1,000,000
    ],
)
def test_amount_thresholds_are_usd_values_whatever_the_currency(
    amount_minor: int, currency: str, outcome: RiskOutcome
) -> None:
    found = assess(
        RiskPolicy(), amount=Money(amount_minor, currency), card=SAFE_CARD, recent_payments=0
    )

    assert found.outcome is outcome


T = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "rate",
    [Rate("USD", "JPY", Decimal(150), T), Rate("JPY", "USD", Decimal("0.0066666667"), T)],
    ids=["usd-to-jpy", "jpy-to-usd"],
)
def test_a_loaded_rate_either_way_round_values_the_amount_instead_of_the_reference(
    rate: Rate,
) -> None:
    def outcome(yen: int) -> RiskOutcome:
        amount = Money(yen, "JPY")
        return assess(POLICY, amount=amount, card=SAFE_CARD, recent_payments=0, rate=rate).outcome

    assert outcome(749_000) is RiskOutcome.NORMAL
    assert outcome(750_000) is RiskOutcome.ELEVATED  # USD 5,000 at 150, not 155


def test_a_rate_of_another_pair_is_ignored() -> None:
    other = Rate("USD", "EUR", Decimal("0.9"), T)
    amount = Money(775_000, "JPY")

    found = assess(POLICY, amount=amount, card=SAFE_CARD, recent_payments=0, rate=other)

    assert found.outcome is RiskOutcome.ELEVATED
