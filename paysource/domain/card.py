"""What we know of a card: a vault token, its brand, BIN and last four digits.

A card number (PAN) or CVV never reaches the domain: sources are tokens, and the
API refuses any free-text field that holds a PAN (`contains_pan`). Identifiers
(Idempotency-Key, X-Request-Id) are never scanned: they are safe by their shape or
stored only as a keyed hash (docs/decisions.md, "Card data by construction").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from paysource.domain.errors import InvalidValue

# Identifiers in free text are never card numbers, but their hex can hold a Luhn-valid
# run of digits: our ids (`pay_` + 32 hex, `req_` + 24 hex), UUIDs and other hex tokens
# (16+ characters with at least 4 letters) are set aside before looking. A PAN glued
# to hex letters ("beef4242…") is thereby missed: refusing such tokens would refuse
# ~0.2% of random hex keys instead, a worse trade.
_IDENTIFIERS = re.compile(
    r"\b[a-z]{2,8}_(?:[0-9a-f]{32}|[0-9a-f]{24})\b"
    r"|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
    r"|\b(?=(?:[0-9]*[a-fA-F]){4})[0-9a-fA-F]{16,}\b"
)
# After every digit is made ASCII, a run is digit groups joined by anything that is
# neither a letter nor a digit (spaces of any number or kind, dots, dashes, `;`, `·`,
# `•`, brackets, colons…): letters end a run, nothing else does.
_RUN = re.compile(r"[0-9]+(?:[^0-9A-Za-z]+[0-9]+)*")
_GROUP = re.compile(r"[0-9]+")
# A run that reads, as a whole, as ISO dates and times of the years 2000-2099 is not a
# card number: no card network issues numbers that begin with 20 (Mastercard's begin
# at 2221, Mir's at 2200), and a run is read whole or not at all, so no digit of a
# longer run is ever set aside ("4242-42-42-4242-4242" is checked, digits and all).
_DATE = r"20[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.,](?:[0-9]{3}){1,3})?)?"
_DATE_TIME = rf"{_DATE}(?: {_TIME}(?:[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?)?"
_DATE_TIMES = re.compile(rf"{_DATE_TIME}(?:[^0-9A-Za-z]+{_DATE_TIME})*")
# ISO 8601 puts a "T" (a letter, so the end of a run) between date and time: the time
# then stands alone, with seconds, maybe a fraction and an offset ("15:22:31.123456+00:00").
_CLOCK = re.compile(
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.,](?:[0-9]{3}){1,3})?"
    r"(?:[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?"
)
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

    Digits of every script count (fullwidth, Arabic-Indic, superscript, circled…),
    and a PAN is one run of digits or of groups of digits however they are separated
    ("4242 4242…", "4242·4242…", "(4242) 4242…", "42 42 42…"); it may touch letters
    or sit next to other numbers ("4242 4242 4242 4242 12/34"): the whole run, and
    every window of whole groups of PAN length in it, is checked.
    """
    return any(_holds_pan(run.group()) for run in _RUN.finditer(_digit_view(text)))


def redact_pans(text: str) -> str:
    """`text` with every digit run that holds a PAN replaced by a marker."""
    pieces: list[str] = []
    done = 0
    for run in _RUN.finditer(_digit_view(text)):
        if _holds_pan(run.group()):
            pieces += [text[done : run.start()], "[REDACTED PAN]"]
            done = run.end()
    return "".join(pieces) + text[done:]


def _digit_view(text: str) -> str:
    """`text` one character for one (so positions hold): digits as ASCII digits,
    letters as letters, anything else as itself if ASCII or a space; identifiers
    turned into letters, which end runs."""
    flat = text if text.isascii() else "".join(map(_as_ascii, text))
    return _IDENTIFIERS.sub(lambda found: "z" * len(found.group()), flat)


@lru_cache(maxsize=4096)
def _as_ascii(char: str) -> str:
    if char.isascii():
        return char
    value = unicodedata.digit(char, None)
    if value is not None:  # every script's digits, superscripts and circled ones too
        return str(value)
    form = unicodedata.normalize("NFKC", char)  # fullwidth, compatibility forms
    digits = [d for d in form if unicodedata.digit(d, None) is not None]
    if len(digits) == 1 and not any(c.isalpha() for c in form):
        return str(unicodedata.digit(digits[0]))  # "⒈" is 1 and a dot
    if len(form) == 1 and form.isascii():
        return form
    return "z" if any(c.isalnum() for c in form) else " "


def _holds_pan(run: str) -> bool:
    if len(run) < MIN_PAN_DIGITS:  # fewer characters than a PAN has digits: most runs
        return False
    if _DATE_TIMES.fullmatch(run) or _CLOCK.fullmatch(run):
        return False
    groups = _GROUP.findall(run)
    return _is_pan("".join(groups)) or _window_holds_pan(groups)


def _is_pan(digits: str) -> bool:
    return MIN_PAN_DIGITS <= len(digits) <= MAX_PAN_DIGITS and luhn_valid(digits)


def _window_holds_pan(groups: list[str]) -> bool:
    # Indexes, not `groups[start:]`: a copy per start made a 60 KB body of "1 1 1 …"
    # cost a second of CPU (quadratic); a window ends within 19 digits anyway.
    for start in range(len(groups)):
        digits = ""
        for index in range(start, len(groups)):
            group = groups[index]
            if len(group) < MIN_GROUP_DIGITS:
                break
            digits += group
            if len(digits) > MAX_PAN_DIGITS:
                break
            if _is_pan(digits):
                return True
    return False
