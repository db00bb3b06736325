"""Deterministic client order ids (docs/semantics.md §1, "Client order ids"), in one of two
encodings (`IdScheme`) of the same three facts: whose (the account), which intent, which
attempt.

* `DASHED` (the first scheme, every id in logs written before venue capabilities):
  `sp-<a>-<i>-<n>`, at most 36 characters for an attempt below 36**13.
* `COMPACT` (venues whose client ids are letters and digits only, at most 32, e.g. OKX's
  `clOrdId`): `sp<a><i><n>`, fixed widths, at most 32 characters for an attempt below
  36**12.

`<a>` is 6 chars of base32(sha256(account)), `<i>` 12 chars of base32(sha256(symbol +
"\\x1f" + intent id)) (both lower case: letters a-z and digits 2-7), `<n>` the attempt in
base 36. The venue's capabilities choose the scheme an account writes
(`venues.capabilities`); `parse_client_order_id` reads both, so an id is recognised
whatever venue wrote it, and old logs keep decoding. From any client order id we can tell
whether the order is ours and, given the intents of a key, which intent it serves.
"""

from __future__ import annotations

import base64
import hashlib
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
ACCOUNT_CHARS = 6
INTENT_CHARS = 12


class IdScheme(StrEnum):
    """How the three facts of a client order id are written (module docstring)."""

    DASHED = "dashed"
    COMPACT = "compact"


_MAX_ATTEMPT_DIGITS = {IdScheme.DASHED: 13, IdScheme.COMPACT: 12}
MAX_LENGTH = {IdScheme.DASHED: 36, IdScheme.COMPACT: 32}
"""The longest id each scheme writes (attempts up to 36**digits - 1)."""
ALPHABET = {
    IdScheme.DASHED: frozenset(_DIGITS + "-"),
    IdScheme.COMPACT: frozenset(_DIGITS),
}
"""Every character each scheme may write."""


def _b32(text: str, length: int) -> str:
    """The first `length` (at most 16) base32 characters of sha256(text)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    # base32 turns each 5 bytes into 8 characters on its own: 10 bytes give the same
    # first 16 characters as the whole digest, for a third of the encoding work
    return base64.b32encode(digest[:10]).decode("ascii").lower()[:length]


@lru_cache(maxsize=1024)
def account_hash(account: str) -> str:
    return _b32(account, ACCOUNT_CHARS)


def account_prefix(account: str, scheme: IdScheme = IdScheme.DASHED) -> str:
    """What every client order id of this account starts with in `scheme`."""
    if scheme is IdScheme.COMPACT:
        return f"sp{account_hash(account)}"
    return f"sp-{account_hash(account)}-"


def account_prefixes(account: str) -> tuple[str, ...]:
    """The prefixes of the account's ids in every scheme (an id starts with one of them)."""
    return tuple(account_prefix(account, scheme) for scheme in IdScheme)


@lru_cache(maxsize=65536)
def intent_hash(symbol: str, intent_id: str) -> str:
    return _b32(f"{symbol}\x1f{intent_id}", INTENT_CHARS)


def base36(number: int) -> str:
    if number < 0:
        raise ValueError("attempt numbers are positive")
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
        if number == 0:
            return out


def client_order_id(
    account: str,
    symbol: str,
    intent_id: str,
    attempt: int,
    scheme: IdScheme = IdScheme.DASHED,
) -> str:
    """The client order id of one placement attempt (attempt starts at 1) in `scheme`;
    ValueError for an attempt the scheme cannot write within its length."""
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    n = base36(attempt)
    if len(n) > _MAX_ATTEMPT_DIGITS[scheme]:
        raise ValueError(f"attempt {attempt} does not fit a {scheme.value} client order id")
    ihash = intent_hash(symbol, intent_id)
    if scheme is IdScheme.COMPACT:
        return f"{account_prefix(account, scheme)}{ihash}{n}"
    return f"{account_prefix(account, scheme)}{ihash}-{n}"


class ParsedId(NamedTuple):
    intent_hash: str
    attempt: int
    scheme: IdScheme = IdScheme.DASHED


def _attempt(text: str, scheme: IdScheme) -> int | None:
    if not text or len(text) > _MAX_ATTEMPT_DIGITS[scheme] or not set(text) <= ALPHABET[scheme]:
        return None
    return int(text, 36)


def _parse(rest: str, scheme: IdScheme) -> ParsedId | None:
    if scheme is IdScheme.COMPACT:
        ihash, attempt = rest[:INTENT_CHARS], rest[INTENT_CHARS:]
    else:
        ihash, sep, attempt = rest.partition("-")
        if not sep:
            return None
    if len(ihash) != INTENT_CHARS or not set(ihash) <= ALPHABET[IdScheme.COMPACT]:
        return None
    number = _attempt(attempt, scheme)
    return None if number is None or number < 1 else ParsedId(ihash, number, scheme)


def parse_client_order_id(account: str, coid: str | None) -> ParsedId | None:
    """The intent hash, attempt and scheme of one of `account`'s own ids, in either
    scheme; None for a foreign id."""
    if not coid:
        return None
    for scheme in IdScheme:
        prefix = account_prefix(account, scheme)
        if coid.startswith(prefix):
            return _parse(coid[len(prefix) :], scheme)
    return None


def is_ours(account: str, coid: str | None) -> bool:
    return parse_client_order_id(account, coid) is not None


def written_by_us(account: str, coid: str | None) -> bool:
    """What the folds and the audit count as our client id: any `sp-` id (the rule of the
    logs written before the COMPACT scheme, kept so that they replay as they did), or one
    of `account`'s ids in any scheme."""
    return coid is not None and (coid.startswith("sp-") or is_ours(account, coid))
