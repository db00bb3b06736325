"""Key partitions and the share of them each live instance claims (pure, no I/O).

Contract:

* `partition_of(key, count)` maps a key to one of `count` partitions with a stable hash
  (the first 8 bytes of SHA-256 of `account + "\\x1f" + symbol token`, big-endian, modulo
  `count`; the symbol token is the subject's, `BTC-USDT`, so a target's subject names its
  partition): the same on every machine, in every process and every Python version (never
  the built-in `hash`, which is salted per process). An account-wide key (symbol None)
  hashes as its subject token, `_`.
* `quota(count, members, me)` is `me`'s fair share among the live `members` (sorted by
  name): `count // n`, plus one for the first `count % n` names. The quotas of all members
  add up to `count` and differ by at most one.
* `fair_share(...)` is what one instance does in one round, from one snapshot of the
  leases: it releases the partitions it holds beyond its quota, and claims free ones up to
  its quota (the quotas add up to `count`, so what one member gives back another one is
  short of). It never claims a held partition and never releases one it does not hold.
  Every member applying it to the same snapshot, round after round (claims resolved by
  the store: one create wins), reaches a state where every partition is held and each
  member holds exactly its quota.
* `first_come(...)` is the standby policy (a gateway's account): claim what is free,
  never release. The holder keeps its lease until it dies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from setpoint.core.model import Key, symbol_token

MAX_PARTITIONS = 1024


@dataclass(frozen=True, slots=True)
class Moves:
    """What one instance does in one round: leases to take and leases to give back."""

    claim: tuple[str, ...] = ()
    release: tuple[str, ...] = ()


Policy = Callable[[Collection[str], Mapping[str, str], Collection[str], str], Moves]
"""(lease names, holder of each held lease, live members, me) -> Moves."""


def partition_of(key: Key, count: int) -> int:
    """The partition of `key` among `count` (module docstring)."""
    return subject_partition(key.account, symbol_token(key.symbol), count)


def subject_partition(account: str, token: str, count: int) -> int:
    """The partition of the key named by a subject's account and symbol token (the same
    as `partition_of` of its key: the intake routes by it before parsing the body)."""
    if not 1 <= count <= MAX_PARTITIONS:
        raise ValueError(f"partition count {count} is not within 1..{MAX_PARTITIONS}")
    text = f"{account}\x1f{token}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") % count


def partition_name(partition: int) -> str:
    """The lease name of a partition: `p` and three digits (`p007`)."""
    return f"p{partition:03d}"


def quota(count: int, members: Collection[str], me: str) -> int:
    """`me`'s fair share of `count` among `members` (`me` counts as one of them)."""
    ranked = sorted(set(members) | {me})
    base, extra = divmod(count, len(ranked))
    return base + (1 if ranked.index(me) < extra else 0)


def _preference(me: str, name: str) -> bytes:
    """The order in which `me` claims free leases: differs per member, so that members
    claiming at the same moment mostly try different ones."""
    return hashlib.sha256(f"{me}\x1f{name}".encode()).digest()


def fair_share(
    names: Collection[str], holders: Mapping[str, str], members: Collection[str], me: str
) -> Moves:
    """One round of the fair-share policy (module docstring)."""
    live = set(members) | {me}
    mine = sorted((n for n in names if holders.get(n) == me), key=lambda n: _preference(me, n))
    mine_quota = quota(len(names), live, me)
    if len(mine) > mine_quota:
        return Moves(release=tuple(mine[mine_quota:]))
    free = sorted((n for n in names if n not in holders), key=lambda n: _preference(me, n))
    return Moves(claim=tuple(free[: mine_quota - len(mine)]))


def first_come(
    names: Collection[str], holders: Mapping[str, str], members: Collection[str], me: str
) -> Moves:
    """The standby policy (module docstring)."""
    return Moves(claim=tuple(sorted(n for n in names if n not in holders)))
