"""Wallets of the simulated account: the spot wallet (free/locked per asset) and the USD-M
margin wallet (wallet balance per asset, net-mode positions).

Both are mutable ledgers owned by the engine; what leaves them is frozen (`Balance`,
`Position`). Every change is exact Decimal arithmetic, so money is conserved: the spot
totals move only by trade flows and fees, the margin wallet only by realized PnL and fees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from setpoint.core.errors import InsufficientBalance as InsufficientBalance
from setpoint.core.numeric import ZERO

ENTRY_QUANTUM = Decimal("1e-8")


@dataclass(frozen=True, slots=True)
class Balance:
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class SpotWallet:
    """Free and locked amounts per asset. Invariant: both are never negative."""

    def __init__(self, start: Mapping[str, Decimal]) -> None:
        self._free: dict[str, Decimal] = dict(start)
        self._locked: dict[str, Decimal] = {asset: ZERO for asset in start}

    def balance(self, asset: str) -> Balance:
        return Balance(self._free.get(asset, ZERO), self._locked.get(asset, ZERO))

    def snapshot(self) -> dict[str, Balance]:
        assets = sorted(set(self._free) | set(self._locked))
        return {asset: self.balance(asset) for asset in assets}

    def can_lock(self, asset: str, amount: Decimal) -> bool:
        return self._free.get(asset, ZERO) >= amount

    def lock(self, asset: str, amount: Decimal) -> None:
        """Move `amount` from free to locked; raises InsufficientBalance, changing nothing."""
        if not self.can_lock(asset, amount):
            raise InsufficientBalance(asset)
        self._free[asset] = self._free.get(asset, ZERO) - amount
        self._locked[asset] = self._locked.get(asset, ZERO) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        """Move `amount` from locked back to free."""
        self._locked[asset] = self._locked.get(asset, ZERO) - amount
        self._free[asset] = self._free.get(asset, ZERO) + amount

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        """Remove `amount` from locked (it leaves the account)."""
        self._locked[asset] = self._locked.get(asset, ZERO) - amount

    def spend_free(self, asset: str, amount: Decimal) -> None:
        """Remove `amount` from free (it leaves the account)."""
        self._free[asset] = self._free.get(asset, ZERO) - amount

    def credit(self, asset: str, amount: Decimal) -> None:
        self._free[asset] = self._free.get(asset, ZERO) + amount
        self._locked.setdefault(asset, ZERO)


@dataclass(frozen=True, slots=True)
class Position:
    """A net-mode position: signed quantity (long > 0) and average entry price."""

    quantity: Decimal = ZERO
    entry_price: Decimal = ZERO

    def apply(self, signed_quantity: Decimal, price: Decimal) -> tuple[Position, Decimal]:
        """The position after a fill of `signed_quantity` at `price`, and the realized PnL."""
        qty = self.quantity
        if qty == 0 or (qty > 0) == (signed_quantity > 0):
            size = abs(qty) + abs(signed_quantity)
            entry = (abs(qty) * self.entry_price + abs(signed_quantity) * price) / size
            return Position(qty + signed_quantity, entry.quantize(ENTRY_QUANTUM)), ZERO
        closing = min(abs(qty), abs(signed_quantity))
        direction = Decimal(1) if qty > 0 else Decimal(-1)
        realized = closing * (price - self.entry_price) * direction
        after = qty + signed_quantity
        if after == 0:
            return Position(), realized
        if (after > 0) == (qty > 0):
            return Position(after, self.entry_price), realized
        return Position(after, price), realized

    def unrealized(self, mark: Decimal) -> Decimal:
        return self.quantity * (mark - self.entry_price)


class MarginWallet:
    """The USD-M wallet: balance per asset, positions per symbol, leverage per symbol."""

    def __init__(self, start: Mapping[str, Decimal], default_leverage: int = 20) -> None:
        self.wallet: dict[str, Decimal] = dict(start)
        self.positions: dict[str, Position] = {}
        self.leverage: dict[str, int] = {}
        self.default_leverage = default_leverage
        self.updated_us: dict[str, int] = {}

    def leverage_of(self, symbol: str) -> int:
        return self.leverage.get(symbol, self.default_leverage)

    def position(self, symbol: str) -> Position:
        return self.positions.get(symbol, Position())

    def settle(
        self,
        asset: str,
        symbol: str,
        signed_qty: Decimal,
        price: Decimal,
        fee: Decimal,
        now_us: int,
    ) -> Decimal:
        """Apply one fill: position, realized PnL and fee into the wallet. Returns the PnL."""
        after, realized = self.position(symbol).apply(signed_qty, price)
        self.positions[symbol] = after
        self.wallet[asset] = self.wallet.get(asset, ZERO) + realized - fee
        self.updated_us[asset] = now_us
        self.updated_us[symbol] = now_us
        return realized
