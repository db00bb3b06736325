"""OKX v5 request authentication: REST headers and the private websocket's login.

REST: `OK-ACCESS-KEY`, `OK-ACCESS-PASSPHRASE`, `OK-ACCESS-TIMESTAMP` (ISO 8601 with
milliseconds, UTC) and `OK-ACCESS-SIGN` = base64(HMAC-SHA256(secret, timestamp + METHOD +
requestPath + body)), where requestPath carries the query string (`?a=b`) of a GET and the
body is the raw JSON of a POST. A timestamp more than 30 s away from the server clock is
refused (50102). The `x-simulated-trading` header of OKX's demo trading is accepted and
ignored (the simulator is all demo).

WebSocket `login`: args `[{apiKey, passphrase, timestamp (Unix seconds), sign}]`, sign =
base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify")).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from setpoint.sim import okx_errors as err
from setpoint.sim.okx_errors import OkxError

WINDOW_MS = 30_000


@dataclass(frozen=True, slots=True)
class Credential:
    secret: str
    passphrase: str


def sign(payload: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _epoch_ms(timestamp: str) -> int:
    """Milliseconds of an ISO 8601 timestamp ("2020-12-08T09:08:57.715Z"); OkxError 50112."""
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise err.TIMESTAMP_INVALID from None
    if moment.tzinfo is None:
        raise err.TIMESTAMP_INVALID
    return int(moment.timestamp() * 1000)


def _credential(
    key: str | None, passphrase: str | None, keys: Mapping[str, Credential]
) -> Credential:
    if not key:
        raise err.KEY_MISSING
    found = keys.get(key)
    if found is None:
        raise err.KEY_INVALID
    if not passphrase:
        raise err.PASSPHRASE_MISSING
    if not hmac.compare_digest(passphrase, found.passphrase):
        raise err.PASSPHRASE_WRONG
    return found


def verify_rest(
    headers: Mapping[str, str],
    method: str,
    path_qs: str,
    body: str,
    keys: Mapping[str, Credential],
    now_ms: int,
) -> str:
    """Authenticate a private REST request; returns the API key or raises OkxError."""
    key = headers.get("OK-ACCESS-KEY")
    found = _credential(key, headers.get("OK-ACCESS-PASSPHRASE"), keys)
    timestamp = headers.get("OK-ACCESS-TIMESTAMP", "")
    if not timestamp:
        raise err.TIMESTAMP_INVALID
    given = headers.get("OK-ACCESS-SIGN", "")
    payload = timestamp + method.upper() + path_qs + (body if method.upper() != "GET" else "")
    if not given or not hmac.compare_digest(sign(payload, found.secret), given):
        raise err.SIGN_INVALID
    if abs(_epoch_ms(timestamp) - now_ms) > WINDOW_MS:
        raise err.TIMESTAMP_EXPIRED
    assert key is not None
    return key


def verify_login(args: object, keys: Mapping[str, Credential], now_ms: int) -> str:
    """Authenticate the websocket `login` args; returns the API key or raises OkxError
    with the websocket's codes (60005 key, 60024 passphrase, 60004 timestamp, 60007 sign)."""
    if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
        raise OkxError("60012", "Invalid request: login needs one argument object")
    login = args[0]
    key, passphrase = str(login.get("apiKey", "")), str(login.get("passphrase", ""))
    found = keys.get(key)
    if found is None:
        raise OkxError("60005", "Invalid OK-ACCESS-KEY")
    if not hmac.compare_digest(passphrase, found.passphrase):
        raise OkxError("60024", "Wrong passphrase")
    timestamp = str(login.get("timestamp", ""))
    try:
        seconds = float(timestamp)  # float-ok: Unix seconds, compared with a 30 s window
    except ValueError:
        raise OkxError("60004", "Invalid timestamp") from None
    if abs(seconds * 1000 - now_ms) > WINDOW_MS:
        raise OkxError("60004", "Invalid timestamp")
    expected = sign(timestamp + "GET/users/self/verify", found.secret)
    if not hmac.compare_digest(expected, str(login.get("sign", ""))):
        raise OkxError("60007", "Invalid sign")
    return key
