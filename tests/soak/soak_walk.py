"""The soak's random walk of targets and market moves (pure: no I/O).

`Walk` holds what the soak has asked for on each key (the intents of the last target, the
position target, `expires_at`) and the simulator's price it last set, and draws the next
step from one `random.Random`: the same seed gives the same sequence of steps, whatever the
system does meanwhile. A step is a plain dict, written to the journal as it is and carried
out by `soak_run`. Prices are multiples of the tick and quantities of the step; buys rest
below the price and sells above it when they are published, so a target never crosses
itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

SPOT_BTC, SPOT_ETH, PERP = "BTC/USDT", "ETH/USDT", "BTC/USDT:USDT"


@dataclass(frozen=True)
class Market:
    """What the walk needs of one key's market (the simulator's defaults)."""

    symbol: str
    start: Decimal
    step: Decimal
    quantity: tuple[str, str]
    position: str
    tag: str


MARKETS = (
    Market(SPOT_BTC, Decimal(60000), Decimal("0.00001"), ("0.001", "0.01"), "0.02", "b"),
    Market(SPOT_ETH, Decimal(3000), Decimal("0.0001"), ("0.01", "0.2"), "0.3", "e"),
    Market(PERP, Decimal(60000), Decimal("0.00001"), ("0.001", "0.01"), "0.03", "p"),
)
TICK = Decimal("0.01")
ORDER_DEFAULTS = {"type": "limit", "time_in_force": "GTC", "post_only": False, "reduce_only": False}
MAX_INTENTS = 8


@dataclass
class KeyPlan:
    """The soak's last target for one key and the simulator's price for it."""

    market: Market
    price: Decimal
    orders: dict[str, dict[str, str | None]] = field(default_factory=dict)
    position: str | None = None
    expires_at: str | None = None
    made: int = 0

    def body(self) -> dict[str, Any]:
        """The target fields the soak publishes (every field of each order given)."""
        orders = [{"id": i, **ORDER_DEFAULTS, **o} for i, o in self.orders.items()]
        return {"orders": orders, "position": self.position, "expires_at": self.expires_at}


class Walk:
    """Draws the soak's steps; every choice comes from `rng` alone."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.keys = {m.symbol: KeyPlan(m, m.start) for m in MARKETS}
        self.oco = 0

    def key(self) -> KeyPlan:
        return self.keys[self.rng.choice(list(self.keys))]

    # ------------------------------------------------------------------ numbers

    def quantity(self, plan: KeyPlan) -> str:
        low, high = (Decimal(q) for q in plan.market.quantity)
        units = self.rng.randint(int(low / plan.market.step), int(high / plan.market.step))
        return str(units * plan.market.step)

    def price(
        self, plan: KeyPlan, side: str, near: float = 0.002, far: float = 0.03
    ) -> str:  # float-ok
        offset = Decimal(str(round(self.rng.uniform(near, far), 5)))
        factor = 1 - offset if side == "buy" else 1 + offset
        return str((plan.price * factor).quantize(TICK, rounding=ROUND_DOWN))

    def new_order(self, plan: KeyPlan, side: str | None = None) -> tuple[str, dict[str, Any]]:
        plan.made += 1
        side = side or self.rng.choice(("buy", "sell"))
        intent = f"{plan.market.tag}{plan.made}"
        spec = {"side": side, "price": self.price(plan, side), "quantity": self.quantity(plan)}
        return intent, {**spec, "oco_group": None}

    # ------------------------------------------------------------------ steps

    def target_step(self) -> dict[str, Any]:
        """A change of one key's target: new intent, amend, cancel, position, expiry, OCO."""
        plan = self.key()
        kinds = ["new", "new", "amend", "amend", "cancel", "position", "expires", "oco"]
        if len(plan.orders) >= MAX_INTENTS:
            kinds = ["cancel", "cancel", "amend", "position"]
        elif not plan.orders:
            kinds = ["new", "oco", "position"]
        kind = self.rng.choice(kinds)
        change = getattr(self, f"_{kind}")(plan)
        plan.expires_at = change.pop("expires_at", None)
        return {"kind": "target", "change": kind, "symbol": plan.market.symbol, **change}

    def _new(self, plan: KeyPlan) -> dict[str, Any]:
        intent, spec = self.new_order(plan)
        plan.orders[intent] = spec
        return {"intent": intent, **spec}

    def _amend(self, plan: KeyPlan) -> dict[str, Any]:
        intent = self.rng.choice(sorted(plan.orders))
        spec = plan.orders[intent]
        if self.rng.random() < 0.5:
            spec["price"] = self.price(plan, str(spec["side"]))
        else:
            spec["quantity"] = self.quantity(plan)
        return {"intent": intent, "price": spec["price"], "quantity": spec["quantity"]}

    def _cancel(self, plan: KeyPlan) -> dict[str, Any]:
        intent = self.rng.choice(sorted(plan.orders))
        del plan.orders[intent]
        return {"intent": intent}

    def _position(self, plan: KeyPlan) -> dict[str, Any]:
        limit = Decimal(plan.market.position)
        units = int(limit / plan.market.step)
        if self.rng.random() < 0.2:
            plan.position = None
        else:
            plan.position = str(self.rng.randint(-units, units) * plan.market.step)
        return {"position": plan.position}

    def _expires(self, plan: KeyPlan) -> dict[str, Any]:
        seconds = round(self.rng.uniform(0.5, 6.0), 3)
        at = datetime.now(UTC) + timedelta(seconds=seconds)
        return {"expires_at": at.isoformat().replace("+00:00", "Z"), "in_s": seconds}

    def _oco(self, plan: KeyPlan) -> dict[str, Any]:
        self.oco += 1
        group = f"oco{self.oco}"
        made = [self.new_order(plan, "buy"), self.new_order(plan, "sell")]
        for intent, spec in made:
            plan.orders[intent] = {**spec, "oco_group": group}
        return {"group": group, "intents": [i for i, _ in made]}

    def market_step(self) -> dict[str, Any]:
        """A price move, a forced fill of one intent's order, or fresh book depth."""
        plan = self.key()
        kind = self.rng.choice(["price", "price", "fill", "fill", "liquidity"])
        symbol = plan.market.symbol
        if kind == "fill":
            return {"kind": "fill", "symbol": symbol, **self.fill_choice()}
        if kind == "liquidity":
            return {"kind": "liquidity", "symbol": symbol, **self.liquidity(plan)}
        return {"kind": "price", "symbol": symbol, "price": str(self.move(plan))}

    def fill_choice(self) -> dict[str, Any]:
        """Which of the key's live orders of ours (by rank of client id) and how much."""
        pick = round(self.rng.random(), 4)
        return {"pick": pick, "fraction": self.rng.choice([0.3, 0.5, 1.0, 1.0])}

    def move(self, plan: KeyPlan) -> Decimal:
        """A move of up to 1 % that stays within 8 % of the start price."""
        start = plan.market.start
        drift = Decimal(str(round(self.rng.uniform(-0.01, 0.01), 5)))
        moved = min(max(plan.price * (1 + drift), start * Decimal("0.92")), start * Decimal("1.08"))
        plan.price = moved.quantize(TICK)
        return plan.price

    def liquidity(self, plan: KeyPlan) -> dict[str, Any]:
        """Depth on both sides, 1 to 3 levels each within the position orders' band (50 bps)."""
        levels: dict[str, list[list[str]]] = {}
        for side in ("buy", "sell"):
            levels[side] = []
            for n in range(self.rng.randint(1, 3)):
                bps = Decimal(5 + 10 * n) / 10000
                factor = 1 - bps if side == "buy" else 1 + bps
                price = (plan.price * factor).quantize(TICK)
                levels[side].append([str(price), self.quantity(plan)])
        return {"levels": levels}

    def final_targets(self) -> dict[str, dict[str, Any]]:
        """The last target of each key: 2 to 4 fresh resting intents, no position, no expiry."""
        finals: dict[str, dict[str, Any]] = {}
        for symbol, plan in self.keys.items():
            plan.orders, plan.position, plan.expires_at = {}, None, None
            for n in range(self.rng.randint(2, 4)):
                intent, spec = self.new_order(plan, "buy" if n % 2 == 0 else "sell")
                spec["price"] = self.price(plan, str(spec["side"]), 0.01, 0.04)
                plan.orders[intent] = spec
            finals[symbol] = plan.body()
        return finals
