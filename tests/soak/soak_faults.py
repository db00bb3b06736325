"""The soak's faults, drawn from the seed (pure: no I/O).

`draw_fault(rng, walk)` returns one fault as a plain dict (what the journal records; the
runner carries it out). The kinds and their weights are in `WEIGHTS`:

* `venue`: one simulator fault rule (`POST /_sim/faults`) of any REST kind on order entry,
  cancel or queries, spot or USD-M, firing on the next 1 to 3 matching requests;
* `ws_drop`, `listen_key_expire`: the user-data streams, once, when installed;
* `fill_race`: an amend or a cancel of one intent published while its order is force-filled;
* `venue_cancel`: the venue cancels (or expires) one live order of ours on its own;
* `foreign`: an order placed by hand (not ours) far from the price;
* `zombie`: an order with our client id for an intent no target ever listed;
* `kill`: SIGKILL of the differ, the executor or the gateway, started again after a pause;
* `nats_sigterm`, `nats_sigkill`: the nats-server stopped and started again on the same
  port and store, after a pause of up to two seconds (sometimes none).
"""

from __future__ import annotations

import random
from typing import Any

from soak_walk import PERP, Walk

REST_KINDS = (
    "timeout_after_accept",
    "drop_after_accept",
    "status_unknown_after_accept",
    "http_500",
    "http_503",
    "rate_limit_429",
    "delay",
)
ENDPOINTS = {
    "spot": (
        ("POST", "/api/v3/order"),
        ("DELETE", "/api/v3/order"),
        ("GET", "/api/v3/order"),
        ("GET", "/api/v3/openOrders"),
        ("GET", "/api/v3/myTrades"),
    ),
    "perp": (
        ("POST", "/fapi/v1/order"),
        ("DELETE", "/fapi/v1/order"),
        ("GET", "/fapi/v1/order"),
        ("GET", "/fapi/v1/openOrders"),
        ("GET", "/fapi/v1/userTrades"),
    ),
}
WEIGHTS = {
    "venue": 40,
    "ws_drop": 5,
    "listen_key_expire": 5,
    "fill_race": 10,
    "venue_cancel": 6,
    "foreign": 4,
    "zombie": 4,
    "kill": 6,
    "nats_sigterm": 3,
    "nats_sigkill": 3,
}
KILLABLE = ("differ", "executor", "gateway")


def draw_fault(rng: random.Random, walk: Walk, kind: str | None = None) -> dict[str, Any]:
    """One fault; `kind` forces the kind (the short soak makes sure of its restarts)."""
    kind = kind or rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    if kind == "venue":
        return {"kind": kind, **_venue_rule(rng)}
    if kind == "venue_cancel":
        status = rng.choice(("CANCELED", "EXPIRED"))
        return {"kind": kind, "symbol": walk.key().market.symbol, "pick": round(rng.random(), 4),
                "status": status}  # fmt: skip
    if kind == "fill_race":
        plan = walk.key()
        if not plan.orders:
            return {"kind": kind, "symbol": plan.market.symbol, "intent": None}
        return {"kind": kind, "symbol": plan.market.symbol, **_race(rng, walk, plan)}
    if kind in ("foreign", "zombie"):
        return {"kind": kind, **_resting(rng, walk)}
    if kind == "kill":
        return {"kind": kind, "service": rng.choice(KILLABLE), "pause_s": _pause(rng, 1.5)}
    if kind.startswith("nats_"):
        return {"kind": kind, "pause_s": _pause(rng, 2.0)}
    return {"kind": kind}


def _pause(rng: random.Random, most: float) -> float:  # float-ok
    return 0.0 if rng.random() < 0.3 else round(rng.uniform(0.05, most), 3)


def _venue_rule(rng: random.Random) -> dict[str, Any]:
    fault = rng.choice(REST_KINDS)
    method, path = rng.choice(ENDPOINTS[rng.choice(("spot", "perp"))])
    rule: dict[str, Any] = {"rule": fault, "method": method, "path": path}
    rule["count"] = rng.randint(1, 3)
    if fault == "timeout_after_accept":
        rule["delay_ms"] = rng.randint(300, 3000)
    elif fault == "delay":
        rule["delay_ms"] = rng.randint(50, 2500)
    if rng.random() < 0.2:
        rule["probability"] = round(rng.uniform(0.3, 1.0), 2)
        rule["seed"] = rng.randrange(2**31)
    return rule


def _race(rng: random.Random, walk: Walk, plan: Any) -> dict[str, Any]:
    """A target change of one intent (amend or cancel) to publish while it is filled."""
    intent = rng.choice(sorted(plan.orders))
    fraction = rng.choice([0.5, 1.0])
    delay_s = round(rng.uniform(0.0, 0.05), 3)
    if rng.random() < 0.5:
        del plan.orders[intent]
        return {"intent": intent, "change": "cancel", "fraction": fraction, "delay_s": delay_s}
    spec = plan.orders[intent]
    spec["price"] = walk.price(plan, str(spec["side"]))
    plan.expires_at = None
    return {"intent": intent, "change": "amend", "price": spec["price"],
            "fraction": fraction, "delay_s": delay_s}  # fmt: skip


def _resting(rng: random.Random, walk: Walk) -> dict[str, Any]:
    """An order 25-30 % away from the start price: it never trades with ours."""
    plan = walk.key()
    side = rng.choice(("buy", "sell"))
    away = rng.uniform(0.25, 0.30)
    factor = 1 - away if side == "buy" else 1 + away
    price = round(float(plan.market.start) * factor, 2)  # float-ok (a price far off)
    quantity = plan.market.quantity[0]
    symbol = plan.market.symbol
    return {"symbol": symbol, "side": side, "price": f"{price:.2f}", "quantity": quantity,
            "perp": symbol == PERP, "tag": rng.randrange(10**9)}  # fmt: skip
