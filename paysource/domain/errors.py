"""The error tree of paysource.

Every error raised on purpose derives from `PaysourceError` and carries a stable
`code`, which the API turns into the problem `type` (RFC 9457). Programmer errors
are assertions, not members of this tree.

    PaysourceError
    ├── DomainError                 a business rule refused a command
    │   ├── InvalidValue            a value is malformed (amount, currency, email…)
    │   │   ├── InvalidAmount
    │   │   ├── InvalidCurrency
    │   │   └── CardNumberRefused   a value looks like a card number (send a token)
    │   ├── CurrencyMismatch
    │   ├── IllegalTransition       the object's state does not allow the command
    │   └── AmountExceeded          more than remains (capture, refund)
    └── ApplicationError            see paysource.application.errors
"""

from __future__ import annotations

from typing import ClassVar


class PaysourceError(Exception):
    """Root of the errors paysource raises on purpose."""

    code: ClassVar[str] = "paysource_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class DomainError(PaysourceError):
    code = "domain_error"


class InvalidValue(DomainError):
    code = "invalid_value"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class InvalidAmount(InvalidValue):
    code = "invalid_amount"


class InvalidCurrency(InvalidValue):
    code = "invalid_currency"


class CardNumberRefused(InvalidValue):
    code = "card_number_refused"


class CurrencyMismatch(DomainError):
    code = "currency_mismatch"


class IllegalTransition(DomainError):
    """The object's current state does not allow the command.

    `code` is specific to the command (e.g. `payment_not_capturable`) so clients can
    branch on it without parsing the detail.
    """

    def __init__(self, detail: str, *, code: str) -> None:
        super().__init__(detail)
        self.code = code  # type: ignore[misc]  # per-instance code, class default otherwise


class AmountExceeded(DomainError):
    def __init__(self, detail: str, *, code: str) -> None:
        super().__init__(detail)
        self.code = code  # type: ignore[misc]
