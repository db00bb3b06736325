"""Deterministic client order ids (docs/semantics.md §1, "Client order ids").

`sp-<a>-<i>-<n>`: `<a>` is 6 chars of base32(sha256(account)), `<i>` 12 chars of
base32(sha256(symbol + "\\x1f" + intent id)), `<n>` the attempt in base 36. From any client
order id we can tell whether the order is ours and, given the intents of a key, which
intent it serves.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import NamedTuple

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b32(text: str, length: int) -> str:
    """The first `length` (at most 16) base32 characters of sha256(text)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    # base32 turns each 5 bytes into 8 characters on its own: 10 bytes give the same
    # first 16 characters as the whole digest, for a third of the encoding work
    return base64.b32encode(digest[:10]).decode("ascii").lower()[:length]


@lru_cache(maxsize=1024)
def account_prefix(account: str) -> str:
    """`sp-<a>-`: every client order id of this account starts with it."""
    return f"sp-{_b32(account, 6)}-"


@lru_cache(maxsize=65536)
def intent_hash(symbol: str, intent_id: str) -> str:
    return _b32(f"{symbol}\x1f{intent_id}", 12)


def base36(number: int) -> str:
    if number < 0:
        raise ValueError("attempt numbers are positive")
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
        if number == 0:
            return out


def client_order_id(account: str, symbol: str, intent_id: str, attempt: int) -> str:
    """The client order id of one placement attempt (attempt starts at 1)."""
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    return f"{account_prefix(account)}{intent_hash(symbol, intent_id)}-{base36(attempt)}"


class ParsedId(NamedTuple):
    intent_hash: str
    attempt: int


def parse_client_order_id(account: str, coid: str | None) -> ParsedId | None:
    """The intent hash and attempt of one of `account`'s own ids; None for a foreign id."""
    prefix = account_prefix(account)
    if not coid or not coid.startswith(prefix):
        return None
    rest = coid[len(prefix) :]
    ihash, sep, attempt = rest.partition("-")
    if not sep or len(ihash) != 12 or not attempt:
        return None
    try:
        return ParsedId(ihash, int(attempt, 36))
    except ValueError:
        return None


def is_ours(account: str, coid: str | None) -> bool:
    return parse_client_order_id(account, coid) is not None
