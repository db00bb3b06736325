"""The simulator's markets: identity, filters and the default set (docs/simulator.md, "Defaults").

A `SimMarket` is a frozen value. Filters follow Binance: PRICE_FILTER (tick), LOT_SIZE
(step, minimum quantity) and NOTIONAL / MIN_NOTIONAL (minimum price x quantity).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from setpoint.core.numeric import is_multiple


class Kind(StrEnum):
    SPOT = "spot"
    PERP = "perp"  # USD-M perpetual, linear, settled in the quote asset


@dataclass(frozen=True, slots=True)
class SimMarket:
    """One market. `venue_id` is Binance's symbol (`BTCUSDT`), shared by spot and perp."""

    symbol: str
    venue_id: str
    kind: Kind
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_notional: Decimal = Decimal(5)
    max_quantity: Decimal = Decimal(9000)
    max_price: Decimal = Decimal(1_000_000)

    @property
    def min_quantity(self) -> Decimal:
        return self.step

    @property
    def is_perp(self) -> bool:
        return self.kind is Kind.PERP

    def filter_failure(self, price: Decimal | None, quantity: Decimal) -> str | None:
        """The name of the first Binance filter the order breaks, or None when it passes.

        `price` None (a market order) skips the price and notional filters.
        """
        if price is not None and (
            price <= 0 or price > self.max_price or not is_multiple(price, self.tick)
        ):
            return "PRICE_FILTER"
        if quantity < self.min_quantity or quantity > self.max_quantity:
            return "LOT_SIZE"
        if not is_multiple(quantity, self.step):
            return "LOT_SIZE"
        if price is not None and price * quantity < self.min_notional:
            return "NOTIONAL"
        return None


def make_market(
    symbol: str, step: Decimal, tick: Decimal = Decimal("0.01"), min_notional: Decimal = Decimal(5)
) -> SimMarket:
    """A market from its unified symbol: `B/Q` is spot, `B/Q:Q` a USD-M perpetual."""
    pair, _, settle = symbol.partition(":")
    base, quote = pair.split("/")
    return SimMarket(
        symbol=symbol,
        venue_id=base + quote,
        kind=Kind.PERP if settle else Kind.SPOT,
        base=base,
        quote=quote,
        tick=tick,
        step=step,
        min_notional=min_notional,
    )


DEFAULT_MARKETS: tuple[SimMarket, ...] = (
    make_market("BTC/USDT", Decimal("0.00001")),
    make_market("ETH/USDT", Decimal("0.0001")),
    make_market("BTC/USDT:USDT", Decimal("0.00001")),
)
"""The default markets (docs/simulator.md): two spot markets and the BTC USD-M perpetual."""


class MarketIndex:
    """Look markets up by unified symbol or by (kind, venue id)."""

    def __init__(self, markets: tuple[SimMarket, ...]) -> None:
        self.all = markets
        self._by_symbol = {m.symbol: m for m in markets}
        self._by_venue = {(m.kind, m.venue_id): m for m in markets}

    def get(self, symbol: str) -> SimMarket | None:
        return self._by_symbol.get(symbol)

    def by_venue(self, kind: Kind, venue_id: str) -> SimMarket | None:
        return self._by_venue.get((kind, venue_id))

    def of_kind(self, kind: Kind) -> list[SimMarket]:
        return [m for m in self.all if m.kind is kind]
