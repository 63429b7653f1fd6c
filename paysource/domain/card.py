"""What we know of a card: a vault token, its brand, BIN and last four digits.

A card number (PAN) or CVV never reaches the domain: sources are tokens, and the
API refuses any field that looks like a PAN (`contains_pan`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from paysource.domain.errors import InvalidValue

# Identifiers are never card numbers, but their hex can hold a Luhn-valid run of
# digits: our ids (`pay_` + 32 hex, `req_` + 24 hex), UUIDs (the usual Idempotency-Key),
# other hex tokens (16+ characters with at least 4 letters) and ISO dates are set aside
# before looking. A PAN glued to hex letters ("beef4242…") is thereby missed: refusing
# such tokens would refuse ~0.2% of random hex keys instead, a worse trade.
_IDENTIFIERS = re.compile(
    r"\b[a-z]{2,8}_(?:[0-9a-f]{32}|[0-9a-f]{24})\b"
    r"|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
    r"|\b(?=(?:[0-9]*[a-fA-F]){4})[0-9a-fA-F]{16,}\b"
    r"|\b\d{4}-\d{2}-\d{2}(?=\b|T)"
)
# What people put between the digit groups of a card number: spaces of any kind
# (zero-width ones too), dots, dashes of every length, slashes, underscores, commas,
# brackets and other punctuation. Not colons: times would join dates into numbers.
_SEPARATORS = r"[\s.\-\u2010-\u2015\u2212/_,()\[\]{}<>+|*#~'\"`\u200b-\u200d\u2060\ufeff]"
_DIGIT_GROUPS = re.compile(rf"\d+(?:{_SEPARATORS}{{1,4}}\d+)*")
_SEPARATOR = re.compile(rf"{_SEPARATORS}+")
MIN_PAN_DIGITS, MAX_PAN_DIGITS = 13, 19
# Within a longer run, groups of one or two digits (dates, times, expiries) end a
# window; a run that is PAN-long as a whole is checked whatever its groups ("42 42 …").
MIN_GROUP_DIGITS = 3
_TOKEN = re.compile(r"^tok_[A-Za-z0-9_]{1,64}$")
_BIN = re.compile(r"^\d{6,8}$")
_LAST4 = re.compile(r"^\d{4}$")


@dataclass(frozen=True, slots=True)
class CardDetails:
    token: str
    brand: str
    bin: str
    last4: str

    def __post_init__(self) -> None:
        # What a vault returns is checked too: a PAN must not slip into `bin`.
        if not (
            _TOKEN.match(self.token)
            and _BIN.match(self.bin)
            and _LAST4.match(self.last4)
            and self.brand.isalpha()
            and len(self.brand) <= 20
        ):
            raise InvalidValue("a card is a token, a brand, a 6-8 digit BIN and 4 digits")

    def as_dict(self) -> dict[str, str]:
        return {"token": self.token, "brand": self.brand, "bin": self.bin, "last4": self.last4}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> CardDetails:
        return cls(data["token"], data["brand"], data["bin"], data["last4"])


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def contains_pan(text: str) -> bool:
    """True when `text` holds a Luhn-valid 13 to 19 digit number: treat it as a card number.

    A PAN is one run of digits or groups of digits however they are separated ("4242
    4242…", "4242.4242…", "(4242) 4242…", "42 42 42…"), may touch letters or sit next
    to other numbers ("4242 4242 4242 4242 12/34"): the whole run, and every window of
    whole groups of PAN length in it, is checked.
    """
    for match in _DIGIT_GROUPS.finditer(_IDENTIFIERS.sub(" ", text)):
        groups = _SEPARATOR.split(match.group())
        if _is_pan("".join(groups)) or _window_holds_pan(groups):
            return True
    return False


def _is_pan(digits: str) -> bool:
    return MIN_PAN_DIGITS <= len(digits) <= MAX_PAN_DIGITS and luhn_valid(digits)


def _window_holds_pan(groups: list[str]) -> bool:
    for start in range(len(groups)):
        digits = ""
        for group in groups[start:]:
            if len(group) < MIN_GROUP_DIGITS:
                break
            digits += group
            if len(digits) > MAX_PAN_DIGITS:
                break
            if _is_pan(digits):
                return True
    return False


def redact_pans(text: str) -> str:
    """`text` with every digit run that holds a PAN replaced by a marker."""
    return _DIGIT_GROUPS.sub(
        lambda match: "[REDACTED PAN]" if contains_pan(match.group()) else match.group(), text
    )
