"""Places held per owner in one process, at most `max_per_owner` each: what caps a
merchant's open websockets and its live subscriptions alike."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.application.owner_slots import OwnerSlots, Slot

OWNERS = ("merchant:a", "merchant:b", "key:admin")


def test_an_owner_past_its_cap_gets_no_slot_until_one_is_released() -> None:
    slots = OwnerSlots(max_per_owner=2)
    first, _ = slots.claim("merchant:a"), slots.claim("merchant:a")

    assert slots.claim("merchant:a") is None
    assert slots.claim("merchant:b") is not None  # another owner: its own cap
    assert first is not None
    first.release()
    assert slots.claim("merchant:a") is not None


def test_a_slot_released_twice_frees_one_place() -> None:
    slots = OwnerSlots(max_per_owner=3)
    slot, _ = slots.claim("merchant:a"), slots.claim("merchant:a")
    assert slot is not None

    slot.release()
    slot.release()

    assert slots.count("merchant:a") == 1


def test_the_cap_is_at_least_one() -> None:
    with pytest.raises(AssertionError):
        OwnerSlots(max_per_owner=0)


# A step: claim for an owner, or release the n-th slot claimed so far (again, maybe).
steps = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), st.sampled_from(OWNERS)),
        st.tuples(st.just("release"), st.integers(0, 30)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(cap=st.integers(1, 4), steps=steps)
def test_each_count_is_the_slots_held_and_never_above_the_cap(
    cap: int, steps: list[tuple[str, object]]
) -> None:
    slots = OwnerSlots(max_per_owner=cap)
    claimed: list[tuple[str, Slot]] = []
    held: dict[int, str] = {}  # index in `claimed` → owner, while not released
    for action, argument in steps:
        if action == "claim":
            assert isinstance(argument, str)
            slot = slots.claim(argument)
            holding = sum(owner == argument for owner in held.values())
            assert (slot is None) == (holding == cap)
            if slot is not None:
                held[len(claimed)] = argument
                claimed.append((argument, slot))
        elif claimed:
            assert isinstance(argument, int)
            index = argument % len(claimed)
            claimed[index][1].release()
            held.pop(index, None)
        for owner in OWNERS:
            count = sum(holder == owner for holder in held.values())
            assert slots.count(owner) == count <= cap
