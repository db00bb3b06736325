"""Key partitions and the fair share of leases (core/partitions.py): properties and scenarios."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from setpoint.core.model import Key
from setpoint.core.partitions import (
    Moves,
    fair_share,
    first_come,
    partition_name,
    partition_of,
    quota,
    subject_partition,
)

MEMBER = st.text(alphabet="abcdefgh0123", min_size=1, max_size=6)


def test_the_hash_is_stable_across_processes_and_versions() -> None:
    # Fixed values: a change here moves keys between partitions on a running system.
    keys = [Key("demo", s) for s in ("BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", None)]
    assert [partition_of(k, 16) for k in keys] == [3, 10, 11, 12]
    assert partition_of(Key("demo", "BTC/USDT"), 1024) == 35
    assert partition_of(Key("demo", "BTC/USDT"), 1) == 0


def test_a_subject_names_the_same_partition_as_its_key() -> None:
    assert subject_partition("demo", "BTC-USDT-USDT", 16) == partition_of(
        Key("demo", "BTC/USDT:USDT"), 16
    )


def test_a_bad_partition_count_is_refused() -> None:
    with pytest.raises(ValueError, match=r"partition count 0 is not within 1\.\.1024"):
        partition_of(Key("demo", "BTC/USDT"), 0)


@given(st.text(min_size=1, max_size=8), st.text(max_size=12), st.integers(1, 1024))
def test_every_key_lands_in_a_partition(account: str, symbol: str, count: int) -> None:
    assert 0 <= partition_of(Key(account, symbol), count) < count


def test_forty_keys_spread_over_sixteen_partitions() -> None:
    used = {partition_of(Key("e2e", f"S{i}/USDT"), 16) for i in range(40)}
    assert len(used) >= 12


@given(st.integers(1, 64), st.sets(MEMBER, min_size=1, max_size=8))
def test_quotas_add_up_and_differ_by_at_most_one(count: int, members: set[str]) -> None:
    shares = [quota(count, members, m) for m in members]
    assert sum(shares) == count
    assert max(shares) - min(shares) <= 1


def _round(
    names: list[str], holders: dict[str, str], members: list[str], order: list[int]
) -> dict[str, str]:
    """Every member decides from the same snapshot; the store then applies the moves in
    `order` (a claim of a lease taken meanwhile fails, like a KV create)."""
    snapshot = dict(holders)
    moves = {m: fair_share(names, snapshot, members, m) for m in members}
    after = dict(holders)
    for index in order:
        member = members[index]
        for name in moves[member].release:
            assert after.get(name) == member, "released a lease it does not hold"
            del after[name]
    for index in order:
        member = members[index]
        for name in moves[member].claim:
            assert name not in snapshot, "claimed a lease that was held"
            after.setdefault(name, member)
    return after


@settings(max_examples=200)
@given(
    st.integers(1, 40),
    st.lists(MEMBER, min_size=1, max_size=5, unique=True),
    st.dictionaries(st.integers(0, 39), st.integers(0, 4)),
    st.data(),
)
def test_the_members_converge_to_a_fair_share_of_every_partition(
    count: int, members: list[str], start: dict[int, int], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(members))))
    names = [partition_name(p) for p in range(count)]
    holders = {partition_name(p): members[m % len(members)] for p, m in start.items() if p < count}
    for _ in range(2 * count + 4):
        holders = _round(names, holders, members, order)
    assert set(holders) == set(names)
    for member in members:
        held = sum(1 for h in holders.values() if h == member)
        assert held == quota(count, members, member)


@given(st.integers(1, 40), st.lists(MEMBER, min_size=2, max_size=4, unique=True))
def test_the_partitions_of_a_dead_member_move_to_the_living(count: int, members: list[str]) -> None:
    names = [partition_name(p) for p in range(count)]
    holders: dict[str, str] = {}
    for _ in range(2 * count + 4):
        holders = _round(names, holders, members, list(range(len(members))))
    dead, living = members[0], members[1:]
    holders = {n: h for n, h in holders.items() if h != dead}  # its leases expired
    for _ in range(2 * count + 4):
        holders = _round(names, holders, living, list(range(len(living))))
    assert set(holders) == set(names)
    assert dead not in holders.values()


def test_a_new_member_gets_its_share_back_from_the_first() -> None:
    names = [partition_name(p) for p in range(16)]
    everything = {n: "a" for n in names}
    moves = fair_share(names, everything, ["a", "b"], "a")
    assert len(moves.release) == 8
    assert moves.claim == ()
    assert fair_share(names, everything, ["a", "b"], "b") == Moves()  # nothing free yet


def test_a_lone_instance_claims_every_partition() -> None:
    names = [partition_name(p) for p in range(16)]
    assert sorted(fair_share(names, {}, [], "only").claim) == names


def test_a_standby_never_takes_a_held_lease_and_the_holder_never_gives_it_back() -> None:
    assert first_come(["demo"], {"demo": "active"}, ["active", "standby"], "standby") == Moves()
    assert first_come(["demo"], {"demo": "active"}, ["active", "standby"], "active") == Moves()
    assert first_come(["demo"], {}, ["standby"], "standby") == Moves(claim=("demo",))
