"""Binance request authentication: API key header, HMAC-SHA256 signature, recvWindow.

REST (SIGNED endpoints): the signature is HMAC-SHA256, hex, of the total parameter string,
the raw query string followed by the raw body, with the `signature` parameter itself
removed; the key comes in the `X-MBX-APIKEY` header. The request is rejected when
`timestamp` is older than `recvWindow` (default 5000 ms, at most 60000) or more than
1000 ms ahead of the server clock.

WebSocket API (`userDataStream.subscribe.signature`): the same HMAC over the parameters
sorted by name and joined as `k=v&...` without URL encoding, `apiKey` among them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl

from setpoint.sim import errors
from setpoint.sim.errors import ApiError

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
AHEAD_TOLERANCE_MS = 1000


def sign(payload: str, secret: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def strip_signature(raw: str) -> tuple[str, str | None]:
    """(`raw` without its `signature=...` part, the signature or None)."""
    kept: list[str] = []
    signature: str | None = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def check_key(headers: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """The API key of the request (a known one), else the Binance error."""
    key = headers.get("X-MBX-APIKEY")
    if not key:
        raise errors.API_KEY_FORMAT
    if key not in keys:
        raise errors.API_KEY_INVALID
    return key


def verify_rest(
    headers: Mapping[str, str], query: str, body: str, keys: Mapping[str, str], now_ms: int
) -> str:
    """Authenticate a SIGNED REST request; returns the API key or raises ApiError."""
    key = check_key(headers, keys)
    query_part, query_sig = strip_signature(query)
    body_part, body_sig = strip_signature(body)
    signature = query_sig or body_sig
    if not signature:
        raise errors.missing("signature")
    payload = query_part + body_part
    if not hmac.compare_digest(sign(payload, keys[key]), signature.lower()):
        raise errors.BAD_SIGNATURE
    check_time(dict(parse_qsl(payload)), now_ms)
    return key


def check_time(params: Mapping[str, str], now_ms: int) -> None:
    """Reject a request whose timestamp falls outside its recvWindow."""
    try:
        timestamp = int(params["timestamp"])
    except (KeyError, ValueError):
        raise errors.missing("timestamp") from None
    try:
        window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
    except ValueError:
        raise errors.missing("recvWindow") from None
    if window > MAX_RECV_WINDOW_MS:
        raise errors.RECV_WINDOW
    if timestamp > now_ms + AHEAD_TOLERANCE_MS or now_ms - timestamp > window:
        raise errors.TIMESTAMP


def verify_ws_params(params: Mapping[str, object], keys: Mapping[str, str], now_ms: int) -> str:
    """Authenticate WebSocket API parameters; returns the API key or raises ApiError."""
    key = str(params.get("apiKey", ""))
    if key not in keys:
        raise errors.API_KEY_INVALID
    signature = params.get("signature")
    if not isinstance(signature, str):
        raise errors.missing("signature")
    payload = "&".join(f"{name}={params[name]}" for name in sorted(params) if name != "signature")
    if not hmac.compare_digest(sign(payload, keys[key]), signature.lower()):
        raise errors.BAD_SIGNATURE
    check_time({k: str(v) for k, v in params.items()}, now_ms)
    return key


def verify_key_only(headers: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """USER_STREAM endpoints (listenKey): the API key header only, no signature."""
    return check_key(headers, keys)


__all__ = [
    "ApiError",
    "check_key",
    "check_time",
    "sign",
    "strip_signature",
    "verify_key_only",
    "verify_rest",
    "verify_ws_params",
]
