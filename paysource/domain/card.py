"""What we know of a card: a vault token, its brand, BIN and last four digits.

A card number (PAN) or CVV never reaches the domain: sources are tokens, and the
API refuses any field that looks like a PAN (`contains_pan`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# 13 to 19 digits, optionally grouped by single spaces or dashes, as PANs are typed.
_PAN_CANDIDATE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


@dataclass(frozen=True, slots=True)
class CardDetails:
    token: str
    brand: str
    bin: str
    last4: str

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
    """True when `text` holds a Luhn-valid 13 to 19 digit number: treat it as a card number."""
    for match in _PAN_CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False
