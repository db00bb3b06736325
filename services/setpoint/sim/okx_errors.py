"""OKX v5's error answers: `{"code", "msg", "data"}` with OKX's codes and texts.

ccxt's okx raises from the per-order `sCode` of each `data` row first, then from the
top-level `code` (its `exceptions['exact']` table), so the codes are OKX's own and the
same answer raises the same ccxt class against the real venue and the simulator.

    OkxError(code, msg, status)          -> {"code": code, "msg": msg, "data": []}
    refusal(rejected, action)            -> (sCode, sMsg) of the engine's refusal
"""

from __future__ import annotations

from setpoint.core.errors import OkxError as OkxError
from setpoint.sim.orders import Reason, Rejected


def bad_param(name: str) -> OkxError:
    return OkxError("51000", f"Parameter {name} error")


def empty_param(name: str) -> OkxError:
    return OkxError("50014", f"Parameter {name} can not be empty")


KEY_MISSING = OkxError("50103", "Request header OK-ACCESS-KEY can not be empty.", 401)
PASSPHRASE_MISSING = OkxError("50104", "Request header OK-ACCESS-PASSPHRASE can not be empty.", 401)
PASSPHRASE_WRONG = OkxError("50105", "Request header OK-ACCESS-PASSPHRASE incorrect.", 401)
KEY_INVALID = OkxError("50111", "Invalid OK-ACCESS-KEY.", 401)
TIMESTAMP_INVALID = OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP.", 401)
SIGN_INVALID = OkxError("50113", "Invalid Sign.", 401)
TIMESTAMP_EXPIRED = OkxError("50102", "Timestamp request expired.", 401)
RATE_LIMIT = OkxError("50011", "Too Many Requests", 429)
STATUS_UNKNOWN = OkxError(
    "50004",
    "API endpoint request timeout (does not mean that the request was successful or "
    "failed, please check the request result).",
    200,
)
UNKNOWN_INSTRUMENT = OkxError("51001", "Instrument ID or Spread ID doesn't exist.")
ORDER_NOT_FOUND = OkxError("51603", "Order does not exist", 200)
NOT_SERVED = "50000"  # with a text naming the path (OKX: "Body can not be empty" family)
CRASHED = OkxError("50026", "System error. Try again later.", 500)
POS_SIDE = OkxError("51000", "Parameter posSide error")
"""An order without `posSide` (long/short) on an account in long/short position mode."""


_SIMPLE: dict[Reason, tuple[str, str]] = {
    Reason.UNKNOWN_SYMBOL: ("51001", "Instrument ID or Spread ID doesn't exist."),
    Reason.DUPLICATE: ("51016", "Duplicated clOrdId"),
    Reason.INSUFFICIENT_BALANCE: ("51008", "Order failed. Insufficient balance."),
    Reason.INSUFFICIENT_MARGIN: ("51008", "Order failed. Insufficient USDT margin in account"),
    Reason.REDUCE_ONLY: ("51205", "Reduce Only is not available."),
}
_FILTERS: dict[str, tuple[str, str]] = {
    "PRICE_FILTER": ("51000", "Parameter px error"),
    "LOT_SIZE": ("51121", "Order quantity must be a multiple of the lot size."),
    "NOTIONAL": ("51020", "Your order should meet or exceed the minimum order amount."),
}
_NOT_FOUND: dict[str, tuple[str, str]] = {
    "cancel": (
        "51400",
        "Order cancellation failed as the order has been filled, canceled or does not exist.",
    ),
    "amend": ("51503", "Order modification failed as the order does not exist."),
    "place": ("51603", "Order does not exist"),
}
CANCEL_CLOSED = {
    "canceled": ("51401", "Order cancellation failed as the order has been canceled."),
    "filled": ("51402", "Order cancellation failed as the order has been filled."),
}
AMEND_CLOSED = {
    "canceled": ("51509", "Modification failed as the order has been canceled."),
    "filled": ("51510", "Modification failed as the order has been completed."),
}


_AMEND: dict[Reason, tuple[str, str]] = {
    Reason.INSUFFICIENT_BALANCE: (
        "51502",
        "Order modification failed due to insufficient balance, margin or position.",
    ),
    Reason.INSUFFICIENT_MARGIN: (
        "51502",
        "Order modification failed due to insufficient balance, margin or position.",
    ),
    Reason.WOULD_TAKE: (
        "51511",
        "Operation failed as the order price did not meet the requirement for Post Only.",
    ),
}


def refusal(rejected: Rejected, action: str = "place") -> tuple[str, str]:
    """(sCode, sMsg) of the engine's refusal of a place / cancel / amend."""
    reason = rejected.reason
    if action == "amend" and reason in _AMEND:
        return _AMEND[reason]
    if reason is Reason.FILTER:
        return _FILTERS.get(rejected.detail, ("51000", "Parameter sz error"))
    if reason in (Reason.UNKNOWN_ORDER, Reason.NO_SUCH_ORDER):
        return _NOT_FOUND.get(action, _NOT_FOUND["place"])
    found = _SIMPLE.get(reason)
    if found is not None:
        return found
    return "51000", f"Parameter {'newSz' if action == 'amend' else 'sz'} error"
