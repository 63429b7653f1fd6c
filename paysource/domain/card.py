"""What we know of a card: a vault token, its brand, BIN and last four digits.

A card number (PAN) or CVV never reaches the domain: sources are tokens, and the
API refuses any field that looks like a PAN (`contains_pan`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Digit groups joined by single spaces or dashes, as card numbers are typed.
_DIGIT_GROUPS = re.compile(r"\d+(?:[ -]\d+)*")
_SEPARATOR = re.compile(r"[ -]")
MIN_PAN_DIGITS, MAX_PAN_DIGITS = 13, 19


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
    """True when `text` holds a Luhn-valid 13 to 19 digit number: treat it as a card number.

    A PAN may be typed in groups and sit next to other numbers ("4242 4242 4242 4242
    12/34"), so every run of consecutive groups of the right length is checked.
    """
    for match in _DIGIT_GROUPS.finditer(text):
        groups = _SEPARATOR.split(match.group())
        for start in range(len(groups)):
            digits = ""
            for group in groups[start:]:
                digits += group
                if len(digits) > MAX_PAN_DIGITS:
                    break
                if len(digits) >= MIN_PAN_DIGITS and luhn_valid(digits):
                    return True
    return False


def redact_pans(text: str) -> str:
    """`text` with every digit run that holds a PAN replaced by a marker."""
    return _DIGIT_GROUPS.sub(
        lambda match: "[REDACTED PAN]" if contains_pan(match.group()) else match.group(), text
    )
