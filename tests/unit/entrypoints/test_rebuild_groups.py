"""How `projections rebuild --all` shares the read models out among processes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from paysource.entrypoints.rebuild_processes import DEFAULT_WEIGHT, WEIGHTS, groups
from paysource.readmodels.catalog import PROJECTIONS

NAMES = st.lists(st.sampled_from([*PROJECTIONS, "another", "yet_another"]), unique=True, min_size=1)


def weight(group: list[str]) -> float:
    return sum(WEIGHTS.get(name, DEFAULT_WEIGHT) for name in group)


@given(NAMES, st.integers(min_value=1, max_value=12))
def test_every_read_model_goes_to_exactly_one_group_and_none_is_empty(
    names: list[str], processes: int
) -> None:
    found = groups(names, processes)

    assert sorted(name for group in found for name in group) == sorted(names)
    assert all(found)
    assert len(found) == min(processes, len(names))


@given(NAMES, st.integers(min_value=1, max_value=12))
def test_no_group_outweighs_an_even_share_by_more_than_one_read_model(
    names: list[str], processes: int
) -> None:
    # Greedy list scheduling's bound: the heaviest group is at most the mean plus the
    # heaviest single read model, so no process is left with most of the work.
    found = groups(names, processes)

    heaviest_one = max(WEIGHTS.get(name, DEFAULT_WEIGHT) for name in names)
    mean = weight(names) / len(found)
    assert max(weight(group) for group in found) <= mean + heaviest_one + 1e-9


def test_on_two_processes_the_ledger_and_the_events_index_are_apart() -> None:
    # The two most expensive rebuilds: together they would leave the other core idle.
    first, second = groups(list(PROJECTIONS), 2)

    assert ("ledger" in first) != ("ledger" in second)
    assert ("events" in first) != ("ledger" in first)
    assert abs(weight(first) - weight(second)) <= 2.0
