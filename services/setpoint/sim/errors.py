"""Binance's error answers: HTTP status, numeric code and the exact message text.

ccxt's binance picks its exception class from the message first, then from the code
(market-type specific maps by URL, then the generic one), so both must be Binance's own.

    ApiError(status, code, msg)        -> {"code": code, "msg": msg} with that HTTP status
                                          (`response(error)`)
      from_rejection(Rejected, perp)   -> the engine's refusal in the dialect of spot or USD-M
"""

from __future__ import annotations

from aiohttp import web

from setpoint.core.errors import ApiError as ApiError
from setpoint.sim.orders import Reason, Rejected


def response(error: ApiError) -> web.Response:
    """The HTTP answer of `error`: its body with its status."""
    return web.json_response(error.body(), status=error.status)


def missing(name: str) -> ApiError:
    return ApiError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def bad_value(name: str) -> ApiError:
    return ApiError(
        400,
        -1100,
        f"Illegal characters found in parameter '{name}'; "
        "legal range is '^[0-9]{1,20}(\\.[0-9]{1,20})?$'.",
    )


API_KEY_FORMAT = ApiError(401, -2014, "API-key format invalid.")
API_KEY_INVALID = ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
BAD_SIGNATURE = ApiError(400, -1022, "Signature for this request is not valid.")
TIMESTAMP = ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
RECV_WINDOW = ApiError(400, -1131, "recvWindow must be less than 60000")
RATE_LIMIT = ApiError(
    429, -1003, "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute."
)
STATUS_UNKNOWN = ApiError(
    503,
    -1007,
    "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown.",
)
LISTEN_KEY_UNKNOWN = ApiError(400, -1125, "This listenKey does not exist.")
UNKNOWN_SYMBOL = ApiError(400, -1121, "Invalid symbol.")

_FUTURES_POST_ONLY = (
    "Due to the order could not be executed as maker, the Post Only order will be rejected. "
    "The order will not be recorded in the order history"
)


def from_rejection(rejected: Rejected, perp: bool) -> ApiError:
    """The engine's refusal as Binance (spot, or USD-M when `perp`) answers it."""
    reason = rejected.reason
    if reason is Reason.FILTER:
        return _filter_error(rejected.detail, perp)
    if reason is Reason.DUPLICATE:
        return (
            ApiError(400, -4116, "ClientOrderId is duplicated.")
            if perp
            else ApiError(400, -2010, "Duplicate order sent.")
        )
    if reason is Reason.WOULD_TAKE:
        return (
            ApiError(400, -5022, _FUTURES_POST_ONLY)
            if perp
            else ApiError(400, -2010, "Order would immediately match and take.")
        )
    simple = {
        Reason.UNKNOWN_SYMBOL: UNKNOWN_SYMBOL,
        Reason.INSUFFICIENT_BALANCE: ApiError(
            400, -2010, "Account has insufficient balance for requested action."
        ),
        Reason.INSUFFICIENT_MARGIN: ApiError(400, -2019, "Margin is insufficient."),
        Reason.REDUCE_ONLY: ApiError(400, -2022, "ReduceOnly Order is rejected."),
        Reason.UNKNOWN_ORDER: ApiError(400, -2011, "Unknown order sent."),
        Reason.NO_SUCH_ORDER: ApiError(400, -2013, "Order does not exist."),
    }
    found = simple.get(reason)
    if found is not None:
        return found
    return ApiError(400, -1102, rejected.detail or "Bad parameter.")


def _filter_error(name: str, perp: bool) -> ApiError:
    if perp and name == "NOTIONAL":
        return ApiError(
            400,
            -4164,
            "Order's notional must be no smaller than 5 (unless you choose reduce only).",
        )
    return ApiError(400, -1013, f"Filter failure: {name}")
