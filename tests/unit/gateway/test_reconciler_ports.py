"""The reconciler works through its ports (`gateway.ports`) alone: an in-memory venue, a
projection view, an append that collects. It never imports the gateway's service module."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from setpoint.config import AccountConfig
from setpoint.core.events import (
    AssetBalance,
    Event,
    OrderObserved,
    OrderStatus,
    ReconcileTrigger,
    ReconciliationCompleted,
)
from setpoint.core.model import Key, MarketInfo, OrderType, Side
from setpoint.core.projections import ActualState, IntentState
from setpoint.core.reconcile import VenueFill, VenueOrder
from setpoint.gateway.ports import ProjectionView, ReconcileVenue
from setpoint.gateway.reconciler import Reconciler
from setpoint.gateway.venue import PositionFact, TradesRead
from setpoint.testing.synthetic import market
from setpoint.venues.commands import CancelCommand

GATEWAY = Path(__file__).parents[3] / "services" / "setpoint" / "gateway"
SYMBOL = "BTC/USDT"
FOREIGN = VenueOrder(
    order_id="f-1", client_order_id="web_1", symbol=SYMBOL, side=Side.SELL,
    type=OrderType.LIMIT, price=Decimal("120"), quantity=Decimal("1"), filled=Decimal(0),
    status=OrderStatus.NEW, venue_time=datetime.now(UTC) - timedelta(hours=1),
)  # fmt: skip


@dataclass
class MemoryVenue:
    """A venue of one spot market holding one foreign order."""

    markets: Mapping[str, MarketInfo] = field(default_factory=lambda: {SYMBOL: market(SYMBOL)})
    cancels: list[CancelCommand] = field(default_factory=list)
    open_orders_account_wide: bool = True

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return [FOREIGN]

    async def all_fills(
        self, symbol: str, since: datetime | None, *, page: int, pages: int
    ) -> TradesRead:
        return TradesRead((), complete=True)

    async def fills(self, symbol: str, since: datetime | None, *, limit: int) -> list[VenueFill]:
        return []

    async def positions(self, symbols: Sequence[str]) -> list[PositionFact]:
        return []

    async def query(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        return None

    async def balances(self) -> tuple[AssetBalance, ...]:
        return ()

    async def cancel(self, cmd: CancelCommand) -> VenueOrder:
        self.cancels.append(cmd)
        return FOREIGN.model_copy(update={"status": OrderStatus.CANCELED})


@dataclass
class Projections:
    actual: ActualState = field(default_factory=ActualState.empty)
    intent: IntentState = field(default_factory=IntentState.empty)
    last_fill_at: Mapping[Key, datetime] = field(default_factory=dict)
    waits: int = 0

    def scope(self) -> list[str]:
        return [SYMBOL]

    async def caught_up(self) -> None:
        self.waits += 1


async def test_a_run_reads_decides_appends_and_cancels_through_its_ports() -> None:
    venue, view = MemoryVenue(), Projections()
    appended: list[tuple[Key, list[Event]]] = []

    async def append(key: Key, events: Sequence[Event]) -> None:
        appended.append((key, list(events)))

    ports: tuple[ReconcileVenue, ProjectionView] = (venue, view)
    config = AccountConfig(zombie_policy="cancel", zombie_scope="account")
    reconciler = Reconciler(*ports, append, account="demo", config=config)
    outcome = await reconciler.run(ReconcileTrigger.MANUAL)
    assert outcome.count("zombie") == 1
    assert venue.cancels == [CancelCommand(symbol=SYMBOL, order_id="f-1", client_order_id="web_1")]
    assert view.waits == 1
    key = Key("demo", SYMBOL)
    assert [(k, [type(e) for e in events]) for k, events in appended] == [
        (key, [OrderObserved]),
        (key, [ReconciliationCompleted]),
    ]


def test_the_reconciler_does_not_import_the_gateway_service() -> None:
    for module in ("reconciler.py", "ports.py"):
        tree = ast.parse((GATEWAY / module).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert "setpoint.gateway.service" not in imported, module


@dataclass
class ReadsFrom(MemoryVenue):
    """Remembers where each trades read started."""

    starts: list[datetime | None] = field(default_factory=list)

    async def all_fills(
        self, symbol: str, since: datetime | None, *, page: int, pages: int
    ) -> TradesRead:
        self.starts.append(since)
        return TradesRead((), complete=True)


async def test_the_trades_read_looks_back_open_order_lookback_s_before_the_last_fill() -> None:
    last_fill = datetime(2026, 1, 1, 12, tzinfo=UTC)
    venue = ReadsFrom()
    view = Projections(last_fill_at={Key("demo", SYMBOL): last_fill})

    async def append(key: Key, events: Sequence[Event]) -> None:
        return None

    ports: tuple[ReconcileVenue, ProjectionView] = (venue, view)
    config = AccountConfig(open_order_lookback_s=3600)
    await Reconciler(*ports, append, account="demo", config=config).run(ReconcileTrigger.MANUAL)
    assert venue.starts == [last_fill - timedelta(hours=1)]
    await Reconciler(*ports, append, account="demo", config=AccountConfig()).run(
        ReconcileTrigger.MANUAL
    )
    assert venue.starts[-1] == last_fill - timedelta(minutes=10)  # the default, 600 s
