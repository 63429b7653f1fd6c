"""A settlement's cut-off: a moment with a zone, passed, and a moment in UTC too (the
settlement's id is made of it), else a 422 `invalid_value` naming `until`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from paysource.application.settlements import check_cutoff
from paysource.domain.errors import InvalidValue

NOW = datetime(2026, 12, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    "until",
    [
        datetime.fromisoformat("0001-01-01T00:00:00+14:00"),  # before year 1 in UTC
        datetime.fromisoformat("0001-01-01T13:59:59.999999+14:00"),
        datetime.fromisoformat("9999-12-31T23:59:59-14:00"),  # after 9999 in UTC
        NOW + timedelta(seconds=1),
        datetime(2026, 12, 1),  # no zone
    ],
)
def test_a_cutoff_that_is_not_a_past_moment_in_utc_is_invalid(until: datetime) -> None:
    with pytest.raises(InvalidValue) as refused:
        check_cutoff(until, NOW)
    assert refused.value.field == "until"


def test_the_earliest_moments_in_utc_are_cutoffs_as_given() -> None:
    for until in (
        datetime.fromisoformat("0001-01-01T14:00:00+14:00"),
        datetime.fromisoformat("0001-01-01T00:00:00-14:00"),
        NOW.astimezone(timezone(timedelta(hours=1))),
    ):
        assert check_cutoff(until, NOW) is until
