"""Loading the operator's rates file: whole or not at all, and idempotent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from paysource.application.rates import MalformedRates, RatesService, UsdRates, parse
from paysource.domain.rates import Rate

Key = tuple[str, str, datetime]
GOOD = (
    "base,quote,rate,valid_from\n"
    "USD,EUR,0.9215,2026-12-01T00:00:00Z\n"
    "USD,JPY,155.20,2026-12-01T00:00:00+00:00\n"
    "EUR,USD,1.0852,2026-12-01T00:00:00Z\n"
)


class MemoryRates:
    """The `RatesTable` port in memory (the Postgres one is tested in integration)."""

    def __init__(self) -> None:
        self.rows: dict[Key, Rate] = {}

    def loaded(self, rates: Sequence[Rate]) -> dict[Key, Rate]:
        keys = {(r.base, r.quote, r.valid_from) for r in rates}
        return {key: rate for key, rate in self.rows.items() if key in keys}

    def insert(self, rates: Sequence[Rate]) -> int:
        fresh = [r for r in rates if (r.base, r.quote, r.valid_from) not in self.rows]
        self.rows.update({(r.base, r.quote, r.valid_from): r for r in fresh})
        return len(fresh)

    def all(self) -> list[Rate]:
        return sorted(self.rows.values(), key=lambda r: (r.base, r.quote, r.valid_from))

    def at(self, base: str, quote: str, moment: datetime) -> Rate | None:
        found = [
            r
            for (b, q, valid_from), r in self.rows.items()
            if (b, q) == (base, quote) and valid_from <= moment
        ]
        return max(found, key=lambda r: r.valid_from, default=None)


def test_a_file_loads_exact_decimals_and_loading_it_again_changes_nothing() -> None:
    table = MemoryRates()
    service = RatesService(table)

    first = service.load(GOOD, source="rates.csv")
    again = service.load(GOOD, source="rates.csv")

    assert (first.lines, first.inserted) == (3, 3)
    assert (again.inserted, again.unchanged) == (0, 3)
    assert [str(r.rate) for r in service.list()] == ["1.0852", "0.9215", "155.20"]
    assert all(isinstance(r.rate, Decimal) for r in service.list())


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("base,quote,rate\nUSD,EUR,0.9\n", 1, "header"),
        (GOOD + "USD,EUR,0.92.1,2026-12-02T00:00:00Z\n", 5, "decimal"),
        (GOOD + "USD,EUR,-0.9,2026-12-02T00:00:00Z\n", 5, "positive"),
        (GOOD + "USD,EUR,1e2,2026-12-02T00:00:00Z\n", 5, "digits"),
        (GOOD + "USD,XXX,0.9,2026-12-02T00:00:00Z\n", 5, "XXX"),
        (GOOD + "USD,USD,1,2026-12-02T00:00:00Z\n", 5, "two different"),
        (GOOD + "USD,EUR,0.9,2026-12-02\n", 5, "time zone"),
        (GOOD + "USD,EUR,0.9,yesterday\n", 5, "ISO 8601"),
        (GOOD + "USD,EUR,0.9\n", 5, "4 fields"),
        (GOOD + "USD,EUR,0.93,2026-12-01T00:00:00Z\n", 5, "twice"),
    ],
)
def test_a_malformed_file_is_refused_whole_naming_the_line_and_reason(
    text: str, line: int, reason: str
) -> None:
    table = MemoryRates()

    with pytest.raises(MalformedRates) as refused:
        RatesService(table).load(text, source="bad.csv")

    assert refused.value.line == line
    assert reason in refused.value.detail
    assert table.rows == {}  # not even the good lines


def test_another_rate_for_a_loaded_pair_and_moment_is_refused_whole() -> None:
    service = RatesService(MemoryRates())
    service.load(GOOD, source="rates.csv")
    changed = GOOD.replace("0.9215", "0.9300") + "GBP,EUR,1.17,2026-12-01T00:00:00Z\n"

    with pytest.raises(MalformedRates) as refused:
        service.load(changed, source="changed.csv")

    assert refused.value.line == 2
    assert "loaded as 0.9215" in refused.value.detail
    assert len(service.list()) == 3  # the new GBP line was not loaded either


def test_the_rate_at_a_moment_is_the_latest_valid_from_at_or_before_it() -> None:
    service = RatesService(MemoryRates())
    service.load(GOOD + "USD,EUR,0.9300,2026-12-03T00:00:00Z\n", source="rates.csv")

    def at(day: int) -> Rate | None:
        return service.at("USD", "EUR", datetime(2026, 12, day, 12, tzinfo=UTC))

    assert at(1) is not None
    assert at(1).rate == Decimal("0.9215")
    assert at(3) is not None
    assert at(3).rate == Decimal("0.9300")
    assert service.at("USD", "EUR", datetime(2026, 11, 30, tzinfo=UTC)) is None


def test_risk_finds_a_usd_pair_either_way_round_and_caches_it() -> None:
    table = MemoryRates()
    RatesService(table).load(GOOD, source="rates.csv")
    clock = [0.0]
    usd_rates = UsdRates(table, ttl_s=60, clock=lambda: clock[0])
    moment = datetime(2026, 12, 2, tzinfo=UTC)

    assert usd_rates.for_currency("JPY", moment).pair == "USD/JPY"  # type: ignore[union-attr]
    assert usd_rates.for_currency("EUR", moment).pair == "EUR/USD"  # type: ignore[union-attr]
    assert usd_rates.for_currency("USD", moment) is None
    table.rows.clear()
    assert usd_rates.for_currency("JPY", moment) is not None  # cached
    clock[0] = 61.0
    assert usd_rates.for_currency("JPY", moment) is None


def test_blank_lines_carry_nothing() -> None:
    assert len(parse(GOOD + "\n\n", source="rates.csv")) == 3
