"""What each venue can do, in one place: the gateway, the differ and the id scheme read it.

A venue's `Capabilities` joins what ccxt says about it (`has`: `editOrder`,
`fetchPositionMode`...; `rateLimit`) with a small table of our own (`VenueRules`) for what
ccxt says nothing about:

* client order ids: the characters and the length the venue accepts (`ClientIdRule`), and
  so the `core.ids.IdScheme` the account writes (the first scheme that fits);
* amend, per market kind (`AmendStyle`): in place (same venue order, new price and new
  *total* size, fills included: OKX `amend-order`, Binance USD-M `PUT /fapi/v1/order`),
  replace (one request cancels and places a new order under a new client id: Binance spot
  `order/cancelReplace`), or none (cancel, then place);
* position mode: we trade net (one-way) accounts only; `hedge_setting` names the venue
  setting an operator changes when the gateway finds a hedge-mode account;
* whether open orders can be listed for the whole account in one call;
* the rate-limit model (`venues.ratelimit`): Binance's weights, OKX's per endpoint and
  instrument limits, else one count of calls from ccxt's `rateLimit`;
* whether a place or cancel answers with the whole order or only with its ids;
* the ccxt options the venue's clients are built with, and whether it needs a passphrase;
* whether the gateway reads the futures wallet's state (Binance USD-M's fields only);
* the venue's dead-man switch (`DeadManRule`): a timer per derivative symbol (Binance
  USD-M `countdownCancelAll`) or one for the whole account (OKX `cancel-all-after`), the
  ccxt method that arms it and the countdowns it accepts; None: the venue has none.

A venue ccxt knows but our table does not gets the conservative rules (`_GENERIC`): ids of
letters and digits up to 32, no native amend, open orders per symbol, calls paced by
ccxt's `rateLimit`. No other module tests a venue's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from string import ascii_letters, digits
from typing import Any

from setpoint.core.errors import ConfigError
from setpoint.core.ids import ALPHABET, MAX_LENGTH, IdScheme
from setpoint.core.model import MarketKind
from setpoint.venues.ratelimit import CallModel, EndpointModel, Limit, RateModel, WeightModel

__all__ = [
    "AmendStyle",
    "Capabilities",
    "ClientIdRule",
    "DeadManRule",
    "VenueRules",
    "capabilities",
    "id_scheme",
    "rules",
]


class AmendStyle(StrEnum):
    """How a venue changes a resting order's price or size (module docstring)."""

    IN_PLACE = "in_place"
    REPLACE = "replace"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ClientIdRule:
    """The client order ids a venue accepts: characters and length."""

    alphabet: frozenset[str]
    max_length: int

    def allows(self, coid: str) -> bool:
        return 0 < len(coid) <= self.max_length and set(coid) <= self.alphabet

    def scheme(self) -> IdScheme:
        """The first `IdScheme` whose every id fits (DASHED first: the ids of old logs)."""
        for scheme in IdScheme:
            if ALPHABET[scheme] <= self.alphabet and MAX_LENGTH[scheme] <= self.max_length:
                return scheme
        raise ConfigError("no client order id scheme fits the venue's client id rule")


@dataclass(frozen=True, slots=True)
class DeadManRule:
    """The venue's dead-man switch (module docstring). `per_symbol`: `method` takes
    `{"symbol": <venue id>, "countdownTime": <ms>}` once per derivative symbol; else it is
    ccxt's unified `cancel_all_orders_after(<ms>)` for the account. A countdown outside
    `min_s`..`max_s` is brought within it."""

    method: str
    per_symbol: bool
    min_s: float  # float-ok: seconds, the venue's bounds
    max_s: float  # float-ok

    def countdown_s(self, wanted_s: float) -> float:  # float-ok
        """`wanted_s` within the venue's bounds."""
        return min(max(wanted_s, self.min_s), self.max_s)


@dataclass(frozen=True, slots=True)
class VenueRules:
    """Our own table for one venue (module docstring)."""

    client_ids: ClientIdRule
    amend: Mapping[MarketKind, AmendStyle]
    open_orders_account_wide: bool
    hedge_setting: str
    rate_model: RateModel | None
    """None: one count of calls from ccxt's `rateLimit`."""
    ccxt_options: Mapping[str, Any] = field(default_factory=dict)
    passphrase: bool = False
    """The venue's API keys come with a passphrase (ccxt's `password`)."""
    answers_with_order: bool = False
    """A place or cancel answers with the whole order (Binance); else with its ids only
    (OKX's `sCode`/`ordId`/`clOrdId`), and the gateway reads the order after it."""
    dialect: str | None = None
    """The API a `base_url` of this venue speaks (`venues.conformance`); None: the
    venue's own URLs only."""
    dead_man: DeadManRule | None = None
    """The venue's dead-man switch; None: it has none (`gateway.deadman`)."""
    reads_margin: bool = False
    """The gateway reads the futures wallet's state (`MarginObserved`, `gateway.margin`:
    Binance USD-M's account fields); False: it is not read on this venue."""


_ALNUM = frozenset(ascii_letters + digits)

# --------------------------------------------------------------------------- Binance

_SPOT_WEIGHTS: dict[tuple[str, str], tuple[int, int]] = {
    ("GET", "exchangeInfo"): (20, 20),
    ("GET", "depth"): (5, 5),
    ("GET", "ticker/24hr"): (2, 80),
    ("GET", "ticker/bookTicker"): (2, 4),
    ("GET", "ticker/price"): (2, 4),
    ("POST", "order"): (1, 1),
    ("GET", "order"): (4, 4),
    ("DELETE", "order"): (1, 1),
    ("POST", "order/cancelReplace"): (1, 1),
    ("GET", "openOrders"): (6, 80),
    ("GET", "allOrders"): (20, 20),
    ("GET", "myTrades"): (20, 20),
    ("GET", "account"): (20, 20),
    ("POST", "userDataStream"): (2, 2),
    ("PUT", "userDataStream"): (2, 2),
    ("DELETE", "userDataStream"): (2, 2),
}
_LINEAR_WEIGHTS: dict[tuple[str, str], tuple[int, int]] = {
    ("GET", "exchangeInfo"): (1, 1),
    ("GET", "depth"): (2, 2),
    ("GET", "ticker/24hr"): (1, 40),
    ("GET", "ticker/bookTicker"): (2, 5),
    ("GET", "ticker/price"): (1, 2),
    ("GET", "premiumIndex"): (1, 10),
    ("POST", "order"): (0, 0),
    ("PUT", "order"): (1, 1),
    ("GET", "order"): (1, 1),
    ("DELETE", "order"): (1, 1),
    ("GET", "openOrders"): (1, 40),
    ("GET", "allOrders"): (5, 5),
    ("GET", "userTrades"): (5, 5),
    ("GET", "account"): (5, 5),
    ("GET", "balance"): (5, 5),
    ("GET", "positionRisk"): (5, 5),
    ("GET", "leverageBracket"): (1, 1),
    ("GET", "positionSide/dual"): (30, 30),
}
BINANCE_WEIGHTS: Mapping[tuple[str, str, str], tuple[int, int]] = {
    **{("spot", m, p): w for (m, p), w in _SPOT_WEIGHTS.items()},
    **{("linear", m, p): w for (m, p), w in _LINEAR_WEIGHTS.items()},
}
"""(family, METHOD, ccxt path) -> (request weight, weight without a symbol), as Binance
documents them; an endpoint not listed weighs 1."""

BINANCE_RATES = WeightModel(
    weight={
        "spot": Limit("binance-spot-weight", 6000, 60.0),
        "linear": Limit("binance-usdm-weight", 2400, 60.0),
    },
    order_count={
        "spot": Limit("binance-spot-orders", 100, 10.0),
        "linear": Limit("binance-usdm-orders", 300, 10.0),
    },
    weights=BINANCE_WEIGHTS,
    orders=frozenset(
        {
            ("spot", "POST", "order"),
            ("spot", "POST", "order/cancelReplace"),
            ("linear", "POST", "order"),
            ("linear", "PUT", "order"),
        }
    ),
)

BINANCE = VenueRules(
    client_ids=ClientIdRule(_ALNUM | frozenset("._-:/"), 36),
    amend={MarketKind.SPOT: AmendStyle.REPLACE, MarketKind.SWAP: AmendStyle.IN_PLACE},
    open_orders_account_wide=True,
    hedge_setting=(
        "the USD-M futures position mode must be One-way (dualSidePosition=false; "
        "Binance: Preferences > Position Mode, or POST /fapi/v1/positionSide/dual)"
    ),
    rate_model=BINANCE_RATES,
    ccxt_options={
        "defaultType": "spot",
        "adjustForTimeDifference": False,
        "warnOnFetchOpenOrdersWithoutSymbol": False,
        "fetchMarkets": {"types": ["spot", "linear"]},
    },
    answers_with_order=True,
    dialect="binance",
    dead_man=DeadManRule("fapiPrivatePostCountdownCancelAll", per_symbol=True, min_s=1, max_s=3600),
    reads_margin=True,
)

# --------------------------------------------------------------------------- OKX


def _okx(path: str, capacity: int, per_instrument: bool = True, method: str = "POST") -> Limit:
    return Limit(f"okx {method} {path}", capacity, 2.0, per_instrument)


_OKX_LIMITS = (
    _okx("trade/order", 60),
    _okx("trade/cancel-order", 60),
    _okx("trade/amend-order", 60),
    _okx("trade/batch-orders", 300),
    _okx("trade/order", 60, method="GET"),
    _okx("trade/orders-pending", 60, False, "GET"),
    _okx("trade/fills", 60, False, "GET"),
    _okx("trade/fills-history", 10, False, "GET"),
    _okx("account/balance", 10, False, "GET"),
    _okx("account/positions", 10, False, "GET"),
    _okx("account/config", 5, False, "GET"),
    _okx("public/instruments", 20, False, "GET"),
    _okx("market/ticker", 20, False, "GET"),
    _okx("market/tickers", 20, False, "GET"),
    _okx("market/books", 40, False, "GET"),
)
OKX_RATES = EndpointModel(
    limits={limit.name.removeprefix("okx "): limit for limit in _OKX_LIMITS},
    default=Limit("okx other", 10, 2.0),
)
"""OKX's per-endpoint limits (requests per 2 s), per instrument for order entry."""

OKX = VenueRules(
    client_ids=ClientIdRule(_ALNUM, 32),
    amend={MarketKind.SPOT: AmendStyle.IN_PLACE, MarketKind.SWAP: AmendStyle.IN_PLACE},
    open_orders_account_wide=False,
    hedge_setting=(
        "the account's position mode must be net (posMode=net_mode; OKX: Settings > "
        "Position mode > One-way, or POST /api/v5/account/set-position-mode)"
    ),
    rate_model=OKX_RATES,
    ccxt_options={"defaultType": "spot", "fetchMarkets": {"types": ["spot", "swap"]}},
    passphrase=True,
    dialect="okx",
    dead_man=DeadManRule("cancel_all_orders_after", per_symbol=False, min_s=10, max_s=120),
)

_GENERIC = VenueRules(
    client_ids=ClientIdRule(_ALNUM, 32),
    amend={},
    open_orders_account_wide=False,
    hedge_setting="the account's position mode must be net (one-way), not hedge (long/short)",
    rate_model=None,
)

_TABLE: Mapping[str, VenueRules] = {"binance": BINANCE, "okx": OKX}


def rules(exchange: str) -> VenueRules:
    """Our table's rules for a ccxt exchange id (the generic rules for any other)."""
    return _TABLE.get(exchange, _GENERIC)


def id_scheme(exchange: str) -> IdScheme:
    """How the account's client order ids are written on this venue (no ccxt import)."""
    return rules(exchange).client_ids.scheme()


@dataclass(frozen=True, slots=True)
class Capabilities:
    """One venue: ccxt's `has` and our `rules` (module docstring)."""

    exchange: str
    rules: VenueRules
    has: Mapping[str, Any]
    rate_model: RateModel

    @property
    def id_scheme(self) -> IdScheme:
        return self.rules.client_ids.scheme()

    @property
    def open_orders_account_wide(self) -> bool:
        return self.rules.open_orders_account_wide

    @property
    def reads_position_mode(self) -> bool:
        return bool(self.has.get("fetchPositionMode"))

    def amend_style(self, kind: MarketKind) -> AmendStyle:
        """How an order of `kind` is amended: NONE when ccxt cannot edit orders here."""
        if not self.has.get("editOrder"):
            return AmendStyle.NONE
        return self.rules.amend.get(kind, AmendStyle.NONE)

    def capacities(self, overrides: Mapping[str, int]) -> Mapping[str, int]:
        """An account's `venue_rate_limits` checked against the limits the venue counts
        (ConfigError naming the unknown ones and the known)."""
        known = sorted({limit.name for limit in self.rate_model.all_limits()})
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ConfigError(
                f"venue_rate_limits: {', '.join(map(repr, unknown))} not counted by "
                f"{self.exchange} (its limits: {', '.join(map(repr, known))})"
            )
        return overrides


@lru_cache(maxsize=32)
def capabilities(exchange: str) -> Capabilities:
    """The capabilities of a ccxt exchange id (ConfigError for one ccxt does not know)."""
    import ccxt

    if exchange not in ccxt.exchanges:
        raise ConfigError(f"exchange {exchange!r} is not a ccxt exchange id")
    client = getattr(ccxt, exchange)()
    table = rules(exchange)
    model = table.rate_model
    if model is None:
        per_s = max(1, int(1000 / max(float(client.rateLimit), 1.0)))  # float-ok: ccxt's ms
        model = CallModel(Limit(f"{exchange} calls", per_s, 1.0))
    return Capabilities(exchange, table, dict(client.has), model)
