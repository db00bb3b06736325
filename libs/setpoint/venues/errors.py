"""What a venue error means for the order it concerned.

Every exception a ccxt call raises is classified into one `Outcome` by `classify`:

    Outcome
    ├── TRANSIENT      RequestTimeout, NetworkError, ExchangeNotAvailable, BadResponse,
    │                  Binance -1007 "status unknown", any unrecognised error:
    │                  the request *may have happened*; query by client order id,
    │                  never retry blindly, never treat as terminal
    ├── DUPLICATE      the client order id is already in use at the venue: the order
    │                  exists (an earlier attempt reached it); query it
    ├── RATE_LIMITED   RateLimitExceeded, DDoSProtection: refused before processing;
    │                  back off, then try again with the same client order id
    ├── NOT_FOUND      OrderNotFound: the venue does not know the order (cancel/query)
    ├── REJECTED       InvalidOrder, InsufficientFunds, BadRequest, OperationRejected, ...:
    │                  the venue refused; terminal for this attempt
    └── FATAL          AuthenticationError, PermissionDenied, NotSupported: no request
                       of this kind can succeed until an operator acts

`VenueFailure` carries the outcome, the venue's error code when there is one and a short
reason that never contains credentials (see `redact`). Both values are defined with the
error tree (`setpoint.errors`) because `VenueError` carries them; classification stays here.
"""

from __future__ import annotations

import re

from ccxt.base.errors import (
    ArgumentsRequired,
    AuthenticationError,
    BadRequest,
    DDoSProtection,
    DuplicateOrderId,
    InsufficientFunds,
    InvalidAddress,
    InvalidOrder,
    NotSupported,
    OperationRejected,
    OrderNotFound,
    RateLimitExceeded,
)

from setpoint.core.errors import Outcome as Outcome
from setpoint.core.errors import VenueFailure as VenueFailure

_CODE = re.compile(r'"code"\s*:\s*"?(-?\d+)')
_STATUS_UNKNOWN_CODES = frozenset({"-1007", "-1006"})
_DUPLICATE_CODES = frozenset({"-4116"})
_NOT_FOUND_CODES = frozenset({"-2013", "-2011"})
_DUPLICATE_TEXT = ("duplicate order", "duplicate client", "duplicated_client_order_id")
_SECRET_PARAMS = re.compile(r"(signature|apikey|api_key|secret|x-mbx-apikey)=?[^&\s\"',}]*", re.I)


def venue_code(exc: BaseException) -> str | None:
    """The venue's numeric error code quoted in a ccxt message (`{"code":-2010,...}`)."""
    match = _CODE.search(str(exc))
    return match.group(1) if match else None


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` without signatures, key parameters or any of `secrets`, at most 300 chars."""
    cleaned = _SECRET_PARAMS.sub(r"\1=<redacted>", text)
    for secret in secrets:
        if secret:
            cleaned = cleaned.replace(secret, "<redacted>")
    return cleaned[:300]


def _by_code(code: str | None, text: str) -> Outcome | None:
    if code in _STATUS_UNKNOWN_CODES:
        return Outcome.TRANSIENT
    if code in _DUPLICATE_CODES or any(t in text for t in _DUPLICATE_TEXT):
        return Outcome.DUPLICATE
    if code in _NOT_FOUND_CODES:
        return Outcome.NOT_FOUND
    return None


def _by_class(exc: BaseException) -> Outcome:
    # order matters: subclasses before their bases (ccxt's tree is in ccxt/base/errors.py)
    if isinstance(exc, (RateLimitExceeded, DDoSProtection)):
        return Outcome.RATE_LIMITED
    if isinstance(exc, DuplicateOrderId):
        return Outcome.DUPLICATE
    if isinstance(exc, OrderNotFound):
        return Outcome.NOT_FOUND
    if isinstance(exc, (AuthenticationError, NotSupported, ArgumentsRequired)):
        return Outcome.FATAL
    if isinstance(exc, (InvalidOrder, InsufficientFunds, BadRequest)):
        return Outcome.REJECTED
    if isinstance(exc, (OperationRejected, InvalidAddress)):
        return Outcome.REJECTED
    # NetworkError, RequestTimeout, ExchangeNotAvailable, BadResponse, a plain
    # ExchangeError and anything unknown: the request may have happened.
    return Outcome.TRANSIENT


def classify(exc: BaseException, secrets: tuple[str, ...] = ()) -> VenueFailure:
    """Classify an exception raised by a venue call (see the module docstring).

    Never raises. A non-ccxt exception (e.g. an aiohttp or OS error that escaped ccxt)
    is TRANSIENT: nothing proves the request did not reach the venue.
    """
    text = str(exc)
    code = venue_code(exc)
    outcome = _by_code(code, text.lower()) or _by_class(exc)
    terminal = outcome is Outcome.REJECTED and not isinstance(
        exc, (InsufficientFunds, OperationRejected)
    )
    reason = redact(f"{type(exc).__name__}: {text}", secrets)
    return VenueFailure(outcome, code, reason, terminal)
