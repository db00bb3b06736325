"""The account side of the simulator: balances, locks, fees, perpetual positions and margin.

The ledger owns the spot wallet and the USD-M margin wallet (`accounts`) and applies the
venue's money rules to orders and fills; it never sees the book. Contract:
- Checks (`check_reduce_only`, `check_funds`, `set_leverage`'s) raise `Rejected` and
  change nothing.
- Spot: `lock` moves, when an order opens, price x quantity x (1 + taker rate) of the quote
  (limit buy) or the base quantity (limit sell) from free to locked and records it on the
  order; `settle` releases the fill's part of that lock; `release` unlocks what is left
  when the order ends. So free + locked of an asset moves only by fills: the traded amounts
  and the fee, never by placing or cancelling.
- Fees: maker or taker rate of the fill's notional, in the quote asset, charged exactly
  once per fill, by `settle`.
- USD-M (net mode, cross margin): a fill moves the position and puts its realized PnL
  minus the fee into the wallet; available margin = wallet + unrealized PnL - position
  margin - open order margin, at the engine's last prices.
Every money-moving call returns the `WalletTouched` event it caused (None: nothing moved).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from setpoint.core.model import Side
from setpoint.core.numeric import ZERO
from setpoint.sim.accounts import MarginWallet, SpotWallet
from setpoint.sim.markets import MarketIndex, SimMarket
from setpoint.sim.orders import Match, Order, OrderRequest, Reason, Rejected, WalletTouched


@dataclass(frozen=True, slots=True)
class Bracket:
    """One maintenance-margin bracket of a perpetual (Binance's leverage bracket): below
    `cap` notional, maintenance margin = notional x `rate` - `cum`."""

    floor: Decimal
    cap: Decimal
    rate: Decimal
    cum: Decimal
    max_leverage: int


BRACKETS = (
    Bracket(Decimal(0), Decimal(50000), Decimal("0.004"), Decimal(0), 125),
    Bracket(Decimal(50000), Decimal(600000), Decimal("0.005"), Decimal(50), 100),
)
"""Every simulated perpetual's brackets (the last one also covers anything larger)."""


def bracket(notional: Decimal) -> Bracket:
    """The bracket of an absolute notional."""
    return next((b for b in BRACKETS if notional < b.cap), BRACKETS[-1])


def maintenance(notional: Decimal) -> Decimal:
    """Maintenance margin of a position of absolute `notional` (never negative)."""
    chosen = bracket(notional)
    return max(notional * chosen.rate - chosen.cum, ZERO)


@dataclass(frozen=True, slots=True)
class Fees:
    maker: Decimal = Decimal("0.0002")
    taker: Decimal = Decimal("0.0005")


DEFAULT_FEES = Fees()


@dataclass(frozen=True, slots=True)
class Settlement:
    """What one fill did to the account: the order with its lock reduced, the fee charged,
    the realized PnL (perpetuals; 0 on spot) and the wallet event."""

    order: Order
    fee: Decimal
    realized_pnl: Decimal
    touched: WalletTouched


class Ledger:
    """Wallets and money rules of one simulated account. See the module docstring."""

    def __init__(
        self,
        markets: MarketIndex,
        balances: Mapping[str, Decimal],
        futures_balances: Mapping[str, Decimal],
        fees: Fees,
        leverage: int,
        marks: Mapping[str, Decimal],
        open_orders: Callable[[], Iterable[Order]],
    ) -> None:
        """`marks` (last price per symbol) and `open_orders` (oldest first) are the engine's,
        read only here: the margin figures depend on them."""
        self.fees = fees
        self.spot = SpotWallet(balances)
        self.margin = MarginWallet(futures_balances, leverage)
        self._markets = markets
        self._marks = marks
        self._open_orders = open_orders

    # ------------------------------------------------------------------- checks

    def check_reduce_only(self, market: SimMarket, request: OrderRequest) -> None:
        """Rejected REDUCE_ONLY unless the request is on a perpetual, opposite to the
        position and no larger than it."""
        position = self.margin.position(market.symbol).quantity
        reduces = position != 0 and (position > 0) != (request.side is Side.BUY)
        if not market.is_perp or not reduces or (request.quantity or ZERO) > abs(position):
            raise Rejected(Reason.REDUCE_ONLY, "the order would not reduce the position")

    def check_funds(
        self, market: SimMarket, request: OrderRequest, quantity: Decimal, plan: Sequence[Match]
    ) -> None:
        """Rejected INSUFFICIENT_BALANCE (spot) or INSUFFICIENT_MARGIN (perpetual) unless the
        account can carry an order of `quantity` that would get the fills of `plan` now."""
        if market.is_perp:
            self._check_margin(market, request, quantity, plan)
            return
        rate = Decimal(1) + self.fees.taker
        if request.side is Side.BUY:
            if request.price is not None:
                need = request.price * quantity * rate
            else:
                need = sum((m.price * m.quantity * rate for m in plan), ZERO)
            asset = market.quote
        else:
            need, asset = quantity, market.base
        if not self.spot.can_lock(asset, need):
            raise Rejected(Reason.INSUFFICIENT_BALANCE, f"{asset} free below {need}")

    def _check_margin(
        self, market: SimMarket, request: OrderRequest, quantity: Decimal, plan: Sequence[Match]
    ) -> None:
        if request.reduce_only:
            return
        price = request.price if request.price is not None else self._average(market, plan)
        notional = price * quantity
        need = notional / self.margin.leverage_of(market.symbol) + notional * self.fees.taker
        if need > self.margin_available(market.quote):
            raise Rejected(Reason.INSUFFICIENT_MARGIN, f"needs {need} {market.quote}")

    def _average(self, market: SimMarket, plan: Sequence[Match]) -> Decimal:
        size = sum((m.quantity for m in plan), ZERO)
        if size == 0:
            return self._mark(market.symbol)
        return sum((m.price * m.quantity for m in plan), ZERO) / size

    def set_leverage(self, market: SimMarket, leverage: int) -> None:
        """Set the perpetual's leverage; Rejected BAD_PARAMETER off a perpetual or off 1..125."""
        if not market.is_perp or not 1 <= leverage <= 125:
            raise Rejected(Reason.BAD_PARAMETER, "leverage must be 1..125 on a perpetual")
        self.margin.leverage[market.symbol] = leverage

    # ------------------------------------------------------------------- moves

    def lock(self, market: SimMarket, order: Order) -> tuple[Order, WalletTouched | None]:
        """Lock what a new spot limit order needs (funds checked before); the order comes back
        carrying its lock. Perpetual and market orders lock nothing."""
        if market.is_perp or order.price is None:
            return order, None
        if order.side is Side.BUY:
            amount = order.price * order.quantity * (Decimal(1) + self.fees.taker)
            asset = market.quote
        else:
            amount, asset = order.quantity, market.base
        self.spot.lock(asset, amount)
        touched = WalletTouched(False, (asset,), None, order.created_us)
        return replace(order, locked=amount, lock_asset=asset), touched

    def relock(self, market: SimMarket, order: Order) -> tuple[Order, WalletTouched | None]:
        """Resize an amended spot limit order's lock to what its remaining quantity at its
        (new) price needs; Rejected INSUFFICIENT_BALANCE, changing nothing, when the free
        balance cannot cover an increase. Perpetual orders lock nothing."""
        if market.is_perp or order.price is None or not order.lock_asset:
            return order, None
        if order.side is Side.BUY:
            need = order.price * order.remaining * (Decimal(1) + self.fees.taker)
        else:
            need = order.remaining
        asset = order.lock_asset
        if not self.spot.can_lock(asset, need - order.locked):
            raise Rejected(Reason.INSUFFICIENT_BALANCE, f"{asset} free below {need}")
        self.spot.unlock(asset, order.locked)
        self.spot.lock(asset, need)
        return replace(order, locked=need), WalletTouched(False, (asset,), None, order.updated_us)

    def settle(
        self,
        market: SimMarket,
        order: Order,
        price: Decimal,
        quantity: Decimal,
        maker: bool,
        now_us: int,
    ) -> Settlement:
        """Move the money of one fill of `order` (`quantity` at `price`) and charge its fee."""
        fee = price * quantity * (self.fees.maker if maker else self.fees.taker)
        if market.is_perp:
            signed = quantity if order.side is Side.BUY else -quantity
            pnl = self.margin.settle(market.quote, market.symbol, signed, price, fee, now_us)
            touched = WalletTouched(True, (market.quote,), market.symbol, now_us)
            return Settlement(order, fee, pnl, touched)
        order = self._settle_spot(market, order, price, quantity, fee)
        touched = WalletTouched(False, (market.base, market.quote), None, now_us)
        return Settlement(order, fee, ZERO, touched)

    def _settle_spot(
        self, market: SimMarket, order: Order, price: Decimal, quantity: Decimal, fee: Decimal
    ) -> Order:
        """Move the money of one spot fill; returns the order with its lock reduced."""
        locked = order.locked
        if order.side is Side.BUY:
            if order.lock_asset and order.price is not None:
                release = min(order.price * quantity * (Decimal(1) + self.fees.taker), locked)
                self.spot.unlock(market.quote, release)
                locked -= release
            self.spot.spend_free(market.quote, price * quantity + fee)
            self.spot.credit(market.base, quantity)
        else:
            if order.lock_asset:
                self.spot.spend_locked(market.base, quantity)
                locked -= quantity
            else:
                self.spot.spend_free(market.base, quantity)
            self.spot.credit(market.quote, price * quantity - fee)
        return replace(order, locked=locked)

    def release(self, order: Order, now_us: int) -> WalletTouched | None:
        """Unlock what the ending order still holds; the caller drops the lock from the order."""
        if order.locked <= 0:
            return None
        self.spot.unlock(order.lock_asset, order.locked)
        return WalletTouched(False, (order.lock_asset,), None, now_us)

    # ------------------------------------------------------------------ figures

    def margin_available(self, asset: str) -> Decimal:
        """Wallet + unrealized PnL - position margin - open order margin (USD-M, cross)."""
        total = self.margin.wallet.get(asset, ZERO) + self.unrealized(asset)
        return total - self.position_margin(asset) - self.order_margin(asset)

    def unrealized(self, asset: str) -> Decimal:
        """Unrealized PnL of the positions settled in `asset`, at the last prices."""
        return sum(
            (
                pos.unrealized(self._mark(s))
                for s, pos in self.margin.positions.items()
                if self._market(s).quote == asset
            ),
            ZERO,
        )

    def position_margin(self, asset: str) -> Decimal:
        """Initial margin of the positions settled in `asset`, at the last prices."""
        return sum(
            (
                abs(pos.quantity) * self._mark(s) / self.margin.leverage_of(s)
                for s, pos in self.margin.positions.items()
                if self._market(s).quote == asset
            ),
            ZERO,
        )

    def order_margin(self, asset: str) -> Decimal:
        """Initial margin of the open perpetual orders settled in `asset` (not reduce-only)."""
        return sum(
            (
                o.remaining * (o.price or ZERO) / self.margin.leverage_of(o.symbol)
                for o in self._open_orders()
                if (m := self._market(o.symbol)).is_perp and m.quote == asset and not o.reduce_only
            ),
            ZERO,
        )

    def maintenance_margin(self, asset: str, *, without: str | None = None) -> Decimal:
        """Maintenance margin of the positions settled in `asset` (but `without`'s)."""
        return sum(
            (
                maintenance(abs(pos.quantity) * self._mark(s))
                for s, pos in self.margin.positions.items()
                if self._market(s).quote == asset and s != without
            ),
            ZERO,
        )

    def liquidation_price(self, symbol: str) -> Decimal:
        """The mark at which the account (cross margin, net mode) would be liquidated for
        the position of `symbol`, the others' marks held where they are: Binance's
        formula, (WB - TMM1 + UPNL1 + cum - side*Q*EP) / (Q*MMR - side*Q), with TMM1 and
        UPNL1 the other positions' maintenance margin and unrealized PnL. 0 when flat or
        when no price above zero liquidates it."""
        position = self.margin.position(symbol)
        if position.quantity == 0:
            return ZERO
        asset = self._market(symbol).quote
        size = abs(position.quantity)
        side = Decimal(1) if position.quantity > 0 else Decimal(-1)
        chosen = bracket(size * self._mark(symbol))
        others_pnl = self.unrealized(asset) - position.unrealized(self._mark(symbol))
        room = (
            self.margin.wallet.get(asset, ZERO)
            - self.maintenance_margin(asset, without=symbol)
            + others_pnl
            + chosen.cum
        )
        price = (room - side * size * position.entry_price) / (size * chosen.rate - side * size)
        return max(price.quantize(self._market(symbol).tick), ZERO)

    def _mark(self, symbol: str) -> Decimal:
        return self._marks.get(symbol, ZERO)

    def _market(self, symbol: str) -> SimMarket:
        market = self._markets.get(symbol)
        if market is None:
            raise Rejected(Reason.UNKNOWN_SYMBOL, symbol)
        return market
