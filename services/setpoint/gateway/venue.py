"""One account's venue through ccxt: REST for commands and snapshots.

Every call either returns Setpoint values or raises `VenueError` with a classified
`VenueFailure` (see `venues.errors`) whose text is free of credentials. A failed read is
an error, never an empty answer.

Pacing, two layers: with a `limiter` (the account's `rate_limit_per_s`, one per gateway
process), every call waits for a token first; with a `pacer` installed on the ccxt client
(`venues.pacing`: the venue's own counting, weights or per-endpoint limits, from its
capabilities), every REST request ccxt makes waits for its charges. Calls made with
`pace=False` (the executor's commands, already paced by the executor's own bucket) only
take their tokens and charges. A "too many requests" answer to any call holds both back
for `RATE_LIMIT_PENALTY_S`, so every caller backs off.

What the venue can do comes from its `Capabilities` (`venues.capabilities`): whether open
orders can be listed for the whole account, whether its position mode can be read (and
`check_position_mode` refuses a hedge-mode account, naming the setting to change).
Client order ids travel in ccxt's unified `clientOrderId` parameter on every venue.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from setpoint.bus import telemetry
from setpoint.core.errors import ConfigError
from setpoint.core.errors import VenueError as VenueError
from setpoint.core.events import AssetBalance
from setpoint.core.model import MarketInfo, OrderType
from setpoint.core.numeric import ZERO
from setpoint.core.reconcile import VenueFill, VenueOrder
from setpoint.gateway.convert import dec, to_fill, to_market, to_order
from setpoint.venues.capabilities import AmendStyle, Capabilities, capabilities
from setpoint.venues.commands import AmendCommand, CancelCommand, PlaceCommand
from setpoint.venues.errors import Outcome, VenueFailure, classify
from setpoint.venues.pacing import unpaced
from setpoint.venues.ratelimit import Pacer, RateLimiter

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PositionFact:
    symbol: str
    quantity: Decimal
    entry_price: Decimal | None


@dataclass(frozen=True, slots=True)
class Amended:
    """A native amend's answer (`Venue.amend`): the order now working (in place: the same
    order; a replace: the new one) and, for a replace, the old order's final state."""

    order: VenueOrder
    replaced: VenueOrder | None


@dataclass(frozen=True, slots=True)
class TradesRead:
    """A paged trades read (`Venue.all_fills`), oldest first."""

    fills: tuple[VenueFill, ...]
    complete: bool
    """False when the read stopped before a short page: newer trades may be missing."""


def _ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def _text(value: Decimal) -> str:
    return format(value, "f")


class Venue:
    """REST access to one account (`rest` is a ccxt async_support exchange); calls are
    paced by `limiter` when there is one (module docstring)."""

    def __init__(
        self,
        rest: Any,
        redactions: tuple[str, ...],
        limiter: RateLimiter | None = None,
        pacer: Pacer | None = None,
        account: str = "",
    ) -> None:
        self.rest = rest
        self.redactions = redactions
        self.limiter = limiter
        self.pacer = pacer
        self.account = account
        self.markets: dict[str, MarketInfo] = {}
        self._metrics = telemetry.metrics()
        if account:  # every error class counts from 0: the first error is an increase
            for outcome in Outcome:
                labels = {"account": account, "error_class": outcome.value}
                self._metrics.venue_errors.add(0, labels)

    @property
    def capabilities(self) -> Capabilities:
        return capabilities(str(self.rest.id))

    @property
    def open_orders_account_wide(self) -> bool:
        return self.capabilities.open_orders_account_wide

    async def call(self, pending: Awaitable[T], *, pace: bool = True) -> T:
        """Await a ccxt call (not yet started) after its token; any exception becomes a
        classified `VenueError`. Each call is timed in
        `setpoint_venue_request_duration_seconds{account, endpoint}` (endpoint: the ccxt
        method's name) and each error counted by class in `setpoint_venue_errors_total`."""
        try:
            await self._take_token(pace)
        except BaseException:
            if inspect.iscoroutine(pending):
                pending.close()  # cancelled while waiting: the call never starts
            raise
        labels = {"account": self.account, "endpoint": getattr(pending, "__name__", "call")}
        started = time.perf_counter()
        try:
            if pace:
                return await pending
            with unpaced():
                return await pending
        except Exception as exc:
            failure = classify(exc, self.redactions)
            if failure.outcome is Outcome.RATE_LIMITED:
                self._penalize()
            errors = {"account": self.account, "error_class": failure.outcome.value}
            self._metrics.venue_errors.add(1, errors)
            raise VenueError(failure) from None
        finally:
            self._metrics.venue_request_duration.record(time.perf_counter() - started, labels)

    def _penalize(self) -> None:
        if self.limiter is not None:
            self.limiter.penalize()
        if self.pacer is not None:
            self.pacer.penalize()

    async def _take_token(self, pace: bool) -> None:
        if self.limiter is None:
            return
        if pace:
            await self.limiter.acquire()
        else:
            self.limiter.charge()

    async def load_markets(self) -> tuple[MarketInfo, ...]:
        raw = await self.call(self.rest.load_markets(True))
        wanted = (m for m in raw.values() if m.get("type") in ("spot", "swap", "future"))
        markets = tuple(to_market(m) for m in wanted if m.get("active") is not False)
        self.markets = {m.symbol: m for m in markets}
        return markets

    def _is_derivative(self, symbol: str) -> bool:
        market = self.markets.get(symbol)
        return market is not None and market.is_derivative

    async def place(self, cmd: PlaceCommand, *, pace: bool = True) -> VenueOrder:
        """Place with our client order id (never a venue-invented one)."""
        params: dict[str, Any] = {"clientOrderId": cmd.client_order_id}
        if cmd.type is OrderType.LIMIT:
            params["timeInForce"] = cmd.time_in_force.value
        if cmd.post_only:
            params["postOnly"] = True
            params.pop("timeInForce", None)
        if cmd.reduce_only and self._is_derivative(cmd.symbol):
            params["reduceOnly"] = True
        price = _text(cmd.price) if cmd.price is not None else None
        raw = await self.call(
            self.rest.create_order(
                cmd.symbol, cmd.type.value, cmd.side.value, _text(cmd.quantity), price, params
            ),
            pace=pace,
        )
        return await self._whole(raw, cmd.symbol, pace)

    async def cancel(self, cmd: CancelCommand, *, pace: bool = True) -> VenueOrder:
        params = {} if cmd.order_id else {"clientOrderId": cmd.client_order_id}
        pending = self.rest.cancel_order(cmd.order_id or "", cmd.symbol, params)
        return await self._whole(await self.call(pending, pace=pace), cmd.symbol, pace)

    async def _whole(self, raw: dict[str, Any], symbol: str, pace: bool) -> VenueOrder:
        """The order of a place or cancel answer: as answered where the venue answers with
        the whole order, else read by its venue id (the answer carried the ids only)."""
        if self.capabilities.rules.answers_with_order:
            return to_order(raw)
        read = await self.call(self.rest.fetch_order(str(raw["id"]), symbol), pace=pace)
        return to_order(read)

    def amend_style(self, symbol: str) -> AmendStyle:
        """How the venue amends an order of `symbol` (NONE: cancel, then place)."""
        market = self.markets.get(symbol)
        if market is None:
            return AmendStyle.NONE
        return self.capabilities.amend_style(market.kind)

    async def amend(self, cmd: AmendCommand, *, pace: bool = True) -> Amended:
        """Amend natively (`amend_style`): in place, the same order with `cmd.price` and
        the new total size (`AmendCommand.venue_quantity`), answered as the venue now
        shows it; as a replace, the old order cancelled and a new one placed under
        `cmd.new_client_order_id` in one request, answered with the new order and the old
        one's final state. Raises `VenueError` when the venue refuses (the caller falls
        back to cancel-then-place), ValueError when the venue has no native amend."""
        style = self.amend_style(cmd.symbol)
        if style is AmendStyle.NONE:
            raise ValueError(f"no native amend for {cmd.symbol} on {self.rest.id}")
        quantity, price = _text(cmd.venue_quantity(style)), _text(cmd.price)
        params: dict[str, Any] = {}
        if style is AmendStyle.REPLACE:
            params = {"clientOrderId": cmd.new_client_order_id, "timeInForce": "GTC"}
            if cmd.post_only:
                params = {"clientOrderId": cmd.new_client_order_id, "postOnly": True}
            if not cmd.filled:  # a fill racing the replace makes the venue refuse it
                params["cancelRestrictions"] = "ONLY_NEW"
        elif not cmd.order_id:
            params = {"clientOrderId": cmd.client_order_id}
        pending = self.rest.edit_order(
            cmd.order_id or "", cmd.symbol, cmd.type.value, cmd.side.value, quantity, price,
            params,
        )  # fmt: skip
        try:
            raw = await self.call(pending, pace=pace)
        except VenueError as exc:
            raise _replace_refused(exc) if style is AmendStyle.REPLACE else exc from None
        order = await self._whole(raw, cmd.symbol, pace)
        if style is AmendStyle.IN_PLACE:
            return Amended(order, None)
        return Amended(order, await self.query(cmd.symbol, cmd.client_order_id, pace=pace))

    async def query(
        self, symbol: str, client_order_id: str, *, pace: bool = True
    ) -> VenueOrder | None:
        """The order with this client id, or None when the venue says it does not exist."""
        params = {"clientOrderId": client_order_id}
        try:
            raw = await self.call(self.rest.fetch_order("", symbol, params), pace=pace)
        except VenueError as exc:
            if exc.outcome is Outcome.NOT_FOUND:
                return None
            raise
        return to_order(raw)

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        raw = await self.call(self.rest.fetch_open_orders(symbol))
        return [to_order(o) for o in raw]

    async def fills(
        self, symbol: str, since: datetime | None, *, limit: int = 1000, pace: bool = True
    ) -> list[VenueFill]:
        """One call: the oldest `limit` trades from `since`, or the newest without it."""
        raw = await self.call(self.rest.fetch_my_trades(symbol, _ms(since), limit), pace=pace)
        return [to_fill(t) for t in raw]

    async def all_fills(
        self, symbol: str, since: datetime | None, *, page: int = 1000, pages: int = 10,
        pace: bool = True,
    ) -> TradesRead:  # fmt: skip
        """The trades from `since` (without it, from the venue's newest `page`) up to now,
        in at most `pages` calls. The venue answers oldest first from the start time
        (Binance, the simulator); after a full page the next call starts at the last row's
        millisecond, whose rows come again and are dropped by trade id, until a page comes
        back short. Stopped by `pages`, or by a full page that cannot move the start on
        (all at one millisecond), the read is not `complete`."""
        found: dict[str, VenueFill] = {}
        start = _ms(since)
        for _ in range(pages):
            raw = await self.call(self.rest.fetch_my_trades(symbol, start, page), pace=pace)
            for row in raw:
                fill = to_fill(row)
                found.setdefault(fill.trade_id, fill)
            if len(raw) < page:
                return TradesRead(tuple(found.values()), complete=True)
            times = [int(row["timestamp"]) for row in raw if row.get("timestamp") is not None]
            if not times or (start is not None and max(times) <= start):
                break  # a full page at one millisecond: the start cannot move on
            start = max(times)
        return TradesRead(tuple(found.values()), complete=False)

    async def check_position_mode(self) -> None:
        """Refuse a hedge-mode (long/short) account: ConfigError naming the setting to
        change. Read only when the venue can tell and derivative markets are loaded (the
        mode is the account's, not a market's: one read)."""
        caps = self.capabilities
        derivative = next((m.symbol for m in self.markets.values() if m.is_derivative), None)
        if derivative is None or not caps.reads_position_mode:
            return
        mode = await self.call(self.rest.fetch_position_mode(derivative))
        if mode.get("hedged"):
            raise ConfigError(
                f"{caps.exchange} account is in hedge (long/short) position mode; Setpoint "
                f"trades net positions only: {caps.rules.hedge_setting}"
            )

    async def balances(self) -> tuple[AssetBalance, ...]:
        raw = await self.call(self.rest.fetch_balance())
        free, used = raw.get("free") or {}, raw.get("used") or {}
        out = []
        for asset, amount in free.items():
            f, u = dec(amount) or ZERO, dec(used.get(asset)) or ZERO
            out.append(AssetBalance(asset=asset, free=max(f, ZERO), locked=max(u, ZERO)))
        return tuple(out)

    async def positions(self, symbols: Sequence[str]) -> list[PositionFact]:
        if not symbols:
            return []
        raw = await self.call(self.rest.fetch_positions(list(symbols)))
        return [_position(p) for p in raw if p.get("symbol") in symbols]


_REPLACE_NOT_DONE = "-2022"
"""Binance's cancel-replace "failed": the cancel failed and no new order was attempted."""


def _replace_refused(exc: VenueError) -> VenueError:
    """A replace the venue answered "nothing done" (ccxt reads it as a bad response, i.e.
    maybe happened) is a refusal: NOT_FOUND when the old order was unknown (-2011, but
    not its "cancel restrictions" form: the order had filled)."""
    failure = exc.failure
    if failure.code != _REPLACE_NOT_DONE:
        return exc
    unknown = '"code": -2011' in failure.reason and "restrictions" not in failure.reason
    outcome = Outcome.NOT_FOUND if unknown else Outcome.REJECTED
    return VenueError(VenueFailure(outcome, failure.code, failure.reason, terminal=False))


def _position(raw: dict[str, Any]) -> PositionFact:
    info = raw.get("info") or {}
    amount = dec(info.get("positionAmt"))
    if amount is None:
        contracts = dec(raw.get("contracts")) or ZERO
        amount = -contracts if raw.get("side") == "short" else contracts
    entry = dec(info.get("entryPrice")) or dec(raw.get("entryPrice"))
    return PositionFact(str(raw["symbol"]), amount, entry)
