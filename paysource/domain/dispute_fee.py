"""The dispute fee: what we charge a merchant for each chargeback, per currency.

A fixed 15 major units of the payment's currency (1500 minor units of USD or EUR,
15 of JPY, 15000 of KWD), scaled by the ISO 4217 exponent: integer arithmetic, no
rounding. Its own module, apart from `fees.py` (capture fees), so the two schedules
change independently. The fee is recorded in `Dispute.Opened` (`fee_minor`): a later
change of the fee never rewrites a dispute's history.
"""

from __future__ import annotations

from paysource.domain.currency import exponent
from paysource.domain.money import Money, check_currency

DISPUTE_FEE_MAJOR_UNITS = 15


def dispute_fee(currency: str) -> Money:
    """The fee of a dispute of a payment in `currency`."""
    code = check_currency(currency)
    digits = exponent(code)
    assert digits is not None  # check_currency refuses unknown codes
    return Money(DISPUTE_FEE_MAJOR_UNITS * 10**digits, code)
