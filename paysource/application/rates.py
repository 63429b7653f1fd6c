"""The operator's exchange rates: load a CSV file whole or not at all, list them, and
find the rate of a pair at a moment (docs/settlement.md, "Rates").

The file (UTF-8, a header line, then one rate a line):

    base,quote,rate,valid_from
    USD,EUR,0.9215,2026-12-01T00:00:00Z

`rate` is how many `quote` one `base` buys, a decimal string (digits and one point);
`valid_from` an ISO 8601 moment with a zone. A malformed line refuses the file,
naming the line and the reason; a rate already loaded is skipped, so loading the same
file again changes nothing; a different rate for a loaded pair and moment is refused.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from paysource.domain.errors import InvalidValue, PaysourceError
from paysource.domain.rates import Rate, check_rate
from paysource.domain.reference_values import REFERENCE_CURRENCY

COLUMNS = ("base", "quote", "rate", "valid_from")
MAX_LINES = 100_000


class MalformedRates(InvalidValue):
    """A rates file that cannot be loaded: nothing of it is."""

    code = "malformed_rates"

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


class RatesTable(Protocol):
    def loaded(self, rates: Sequence[Rate]) -> dict[tuple[str, str, datetime], Rate]:
        """The stored rates among `rates`' (base, quote, valid_from) keys."""
        ...

    def insert(self, rates: Sequence[Rate]) -> int:
        """Store `rates` in one transaction (skipping keys stored meanwhile); the count."""
        ...

    def all(self) -> list[Rate]: ...

    def at(self, base: str, quote: str, moment: datetime) -> Rate | None:
        """The pair's rate valid at `moment`: the latest `valid_from` at or before it."""
        ...


@dataclass(frozen=True, slots=True)
class LoadResult:
    lines: int
    inserted: int

    @property
    def unchanged(self) -> int:
        return self.lines - self.inserted


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidValue(f"valid_from {text!r} is not an ISO 8601 moment") from None
    if moment.tzinfo is None:
        raise InvalidValue(f"valid_from {text!r} has no time zone (add Z or +00:00)")
    return moment


def _rate(row: list[str], source: str) -> Rate:
    if len(row) != len(COLUMNS):
        raise InvalidValue(f"expected {len(COLUMNS)} fields ({','.join(COLUMNS)})")
    base, quote, rate, valid_from = (field.strip() for field in row)
    return Rate(base.upper(), quote.upper(), check_rate(rate), _moment(valid_from), source)


def parse(text: str, *, source: str) -> list[Rate]:
    """Every rate of the file, or `MalformedRates` for the first bad line."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip().lower() for c in rows[0]] != list(COLUMNS):
        raise MalformedRates(1, f"the header must be {','.join(COLUMNS)}")
    if len(rows) - 1 > MAX_LINES:
        raise MalformedRates(MAX_LINES + 2, f"at most {MAX_LINES} rates a file")
    rates, seen = [], set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(field.strip() for field in row):
            continue  # a blank line (a trailing newline) carries nothing
        try:
            rate = _rate(row, source)
        except PaysourceError as error:
            raise MalformedRates(number, error.detail) from None
        key = (rate.base, rate.quote, rate.valid_from)
        if key in seen:
            raise MalformedRates(number, f"{rate.pair} from {valid(rate)} is in the file twice")
        seen.add(key)
        rates.append(rate)
    return rates


def valid(rate: Rate) -> str:
    return rate.valid_from.isoformat()


class RatesService:
    def __init__(self, table: RatesTable) -> None:
        self.table = table

    def load(self, text: str, *, source: str) -> LoadResult:
        """Load a file whole: every line valid and consistent with what is stored."""
        rates = parse(text, source=source)
        stored = self.table.loaded(rates)
        for number, rate in enumerate(rates, start=2):
            known = stored.get((rate.base, rate.quote, rate.valid_from))
            if known is not None and known.rate != rate.rate:
                raise MalformedRates(
                    number,
                    f"{rate.pair} from {valid(rate)} is loaded as {known.rate}, not {rate.rate};"
                    " a new rate needs a later valid_from",
                )
        fresh = [r for r in rates if (r.base, r.quote, r.valid_from) not in stored]
        return LoadResult(len(rates), self.table.insert(fresh) if fresh else 0)

    def list(self) -> list[Rate]:
        return self.table.all()

    def at(self, base: str, quote: str, moment: datetime) -> Rate | None:
        return self.table.at(base, quote, moment)


class UsdRates:
    """The loaded rate between a currency and USD, for risk limits (`domain.risk`),
    cached for a minute per currency: the payment pipeline asks for every payment."""

    def __init__(
        self,
        table: RatesTable,
        *,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._ttl_s = ttl_s
        self._clock = clock
        self._cached: dict[str, tuple[float, Rate | None]] = {}

    def for_currency(self, currency: str, moment: datetime) -> Rate | None:
        if currency == REFERENCE_CURRENCY:
            return None
        now = self._clock()
        cached = self._cached.get(currency)
        if cached is not None and cached[0] > now:
            return cached[1]
        rate = self._table.at(currency, REFERENCE_CURRENCY, moment) or self._table.at(
            REFERENCE_CURRENCY, currency, moment
        )
        self._cached[currency] = (now + self._ttl_s, rate)
        return rate
