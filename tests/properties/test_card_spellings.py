"""Card numbers in any spelling are found in free text; ordinary identifiers are never
refused as keys or request ids (issue 12, item 4). Thousands of examples each: the
functions are pure and fast."""

from __future__ import annotations

import random
import unicodedata
import uuid
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.domain.card import contains_pan, luhn_valid, redact_pans
from paysource.domain.idempotency import check_idempotency_key
from paysource.entrypoints.http.middleware import is_safe_request_id

# 1,500 each: at 3,000 this file alone took 35 s, on a suite near its 15-minute budget.
MANY = settings(max_examples=1500, deadline=None)


def _check_digit(body: str) -> str:
    return next(d for d in "0123456789" if luhn_valid(body + d))


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """Luhn-valid numbers of 13 to 19 digits. Not beginning with 20: no network
    issues those, and the scanner reads a run of this century's dates as dates."""
    length = draw(st.integers(13, 19))
    prefix = f"{draw(st.integers(0, 99).filter(lambda n: n != 20)):02d}"
    body = prefix + draw(st.text("0123456789", min_size=length - 3, max_size=length - 3))
    return body + _check_digit(body)


# Digits of other scripts and forms, by their zero: each is followed by 1-9 in order.
ZEROS = [0x30, 0xFF10, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0x1D7CE, 0x1D7D8, 0x1040]
SUPERSCRIPTS = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
SUBSCRIPTS = "".join(chr(0x2080 + n) for n in range(10))
CIRCLED = "\u24ea" + "".join(chr(0x2460 + n) for n in range(9))
FORMS = [[chr(z + n) for n in range(10)] for z in ZEROS] + [
    list(SUPERSCRIPTS),
    list(SUBSCRIPTS),
    list(CIRCLED),
]


def _is_separator(char: str) -> bool:
    form = unicodedata.normalize("NFKC", char)
    return bool(form) and not any(c.isalnum() for c in form)


SEPARATOR_CHARS = st.sampled_from(
    list(" -./,;:_|+*#~()[]{}<>'\"`\t\n")
    + list("\u00a0\u2007\u202f\u3000\u200b\u200c\u200d\u2060\ufeff")
    + list("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00b7\u2022\u2219\u30fb\uff0d\uff0e")
) | st.characters(categories=["Zs", "Pd", "Po", "Ps", "Pe", "Sm", "So", "Cf", "Mn"]).filter(
    _is_separator
)


@st.composite
def spellings(draw: st.DrawFn, number: str) -> str:
    """`number` in groups of any widths, any separators (none to many), any digit forms."""
    forms = draw(st.lists(st.sampled_from(FORMS), min_size=1, max_size=3))
    out: list[str] = []
    position = 0
    while position < len(number):
        width = draw(st.integers(1, len(number) - position))
        digits = number[position : position + width]
        out.extend(draw(st.sampled_from(forms))[int(digit)] for digit in digits)
        position += width
        if position < len(number):
            out.append(draw(st.text(SEPARATOR_CHARS, min_size=1, max_size=8)))
    return "".join(out)


# Letters end a run: the number is its own run, or followed by other groups (a window).
CONTEXT = st.sampled_from(["", "card ", "paid with: ", "Ref 42 card ", "n\u00ba "])
AFTER = st.sampled_from(["", " thanks", " exp 12/34", ", order 7", "."])


@MANY
@given(st.data())
def test_a_card_number_in_any_spelling_is_found_and_redacted(data: st.DataObject) -> None:
    number = data.draw(card_numbers())
    text = data.draw(CONTEXT) + data.draw(spellings(number)) + data.draw(AFTER)
    assert contains_pan(text), ascii(text)
    assert not contains_pan(redact_pans(text)), ascii(text)


# Ordinary identifiers: none needs scanning, none is refused as a key.
UUID_SPELLINGS = st.uuids().flatmap(
    lambda u: st.sampled_from(
        [str(u), str(u).upper(), u.hex, u.hex.upper(), f"{{{u}}}", f"urn:uuid:{u}", f"idem-{u}"]
    )
)
UNIX_S = st.integers(1_500_000_000, 4_000_000_000)
ORDER_KEYS = st.builds(
    lambda n, s, us: f"order-{n}-{s}.{us:06d}",
    st.integers(1, 10**9),
    UNIX_S,
    st.integers(0, 999_999),
)
DAYS = st.dates(min_value=date(1970, 1, 1), max_value=date(2199, 12, 31))
DATE_IDS = st.builds(lambda a, b: f"{a.isoformat()}..{b.isoformat()}", DAYS, DAYS) | DAYS.map(
    date.isoformat
)
TIMESTAMPS = UNIX_S.map(lambda s: datetime.fromtimestamp(s, UTC).isoformat())
KEYS = (
    UUID_SPELLINGS
    | ORDER_KEYS
    | DATE_IDS
    | TIMESTAMPS
    | st.integers(0, 10**19).map(str)
    | card_numbers()
    | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255)
)


@MANY
@given(KEYS)
def test_no_ordinary_identifier_is_refused_as_an_idempotency_key(key: str) -> None:
    assert check_idempotency_key(key) == key


# Request ids: echoed and stored, so only in a shape that cannot hold a card number.
SHORT_NUMBERS = st.integers(0, 10**11 - 1)
REQUEST_IDS = (
    UUID_SPELLINGS.filter(lambda u: len(u) == 36)
    | SHORT_NUMBERS.map(lambda n: f"order-{n}")
    | DAYS.map(date.isoformat)
    | st.builds(lambda n, d: f"{d.isoformat()}.{n}", st.integers(0, 999), DAYS)
    | st.text("abcdef0123456789", min_size=1, max_size=11)
    | st.from_regex(r"[A-Za-z]{1,8}[-_.][A-Za-z0-9]{1,20}", fullmatch=True).filter(
        lambda s: sum(c.isdigit() for c in s) < 12
    )
)


@MANY
@given(REQUEST_IDS)
def test_ordinary_request_ids_in_the_safe_shape_are_kept(request_id: str) -> None:
    assert is_safe_request_id(request_id)


@MANY
@given(st.data())
def test_no_ascii_spelling_of_a_card_number_is_kept_as_a_request_id(data: st.DataObject) -> None:
    number = data.draw(card_numbers())
    separators = st.text("._-", max_size=3)
    spelled = "".join(d + data.draw(separators) for d in number)
    prefix = data.draw(st.sampled_from(["", "req_", "order-", "x"]))
    assert not is_safe_request_id(prefix + spelled)


def test_a_hex_request_id_of_32_characters_is_kept_96_times_in_100() -> None:
    # Without a UUID's dashes, 12 digits in a row replace it (nginx's $request_id).
    rng = random.Random(12)
    ids = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(10_000)]
    assert sum(map(is_safe_request_id, ids)) > 9_600


@MANY
@given(
    st.lists(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from([" - ", " \u2013 ", "/", "..", ", ", "; "]),
    st.sampled_from(["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%z"]),
)
def test_dates_and_timestamps_of_this_century_are_not_card_numbers(
    moments: list[datetime], joint: str, shape: str
) -> None:
    text = joint.join((m.replace(tzinfo=UTC) + timedelta(0)).strftime(shape) for m in moments)
    assert not contains_pan(f"stay {text}")
    assert not contains_pan(text)
