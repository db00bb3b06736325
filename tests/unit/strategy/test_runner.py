"""The runner between a strategy and NATS: generations, change detection, replies."""

from __future__ import annotations

from decimal import Decimal

from logfacts import ACCOUNT, T0, at

from setpoint.bus.messages import Ticker
from setpoint.config import StrategyConfig
from setpoint.core.events import TargetPublished, TargetPublishedData
from setpoint.core.model import Key, Producer, TargetState
from setpoint.strategy.grid import Grid
from setpoint.strategy.runner import Runner

SYMBOL = "BTC/USDT"
CONFIG = StrategyConfig(kind="grid", account=ACCOUNT, symbol=SYMBOL, params={"levels": 1})


def _runner() -> Runner:
    runner = Runner("grid-1", CONFIG, Grid())
    runner.ticker(Ticker(account=ACCOUNT, symbol=SYMBOL, last=Decimal("60000"), at=T0))
    return runner


def _logged(target: TargetState) -> TargetPublished:
    return TargetPublished.create(
        Key(ACCOUNT, SYMBOL), Producer.INTAKE, TargetPublishedData(target=target)
    )


def test_generation_follows_the_log_and_unchanged_targets_are_not_sent() -> None:
    runner = _runner()
    manual = TargetState(account=ACCOUNT, symbol=SYMBOL, generation=41, strategy="by-hand")
    runner.apply(_logged(manual))
    (target,) = runner.step(at())
    assert target.generation == 42
    assert target.strategy == "grid-1"
    runner.published(target, {"accepted": True, "generation": 42})
    assert runner.step(at()) == []
    runner.apply(_logged(target))  # our own target comes back through the log
    assert runner.step(at()) == []


def test_a_newer_target_from_someone_else_is_overridden() -> None:
    runner = _runner()
    (ours,) = runner.step(at())
    runner.published(ours, {"accepted": True, "generation": ours.generation})
    theirs = TargetState(
        account=ACCOUNT, symbol=SYMBOL, generation=ours.generation + 1, strategy="by-hand"
    )
    runner.apply(_logged(theirs))
    (again,) = runner.step(at())
    assert again.generation == theirs.generation + 1
    assert again.orders == ours.orders


def test_stale_rejection_jumps_ahead_and_resends() -> None:
    runner = _runner()
    (first,) = runner.step(at())
    runner.published(first, {"accepted": False, "error": "generation: 1 is stale"})
    (second,) = runner.step(at())
    assert second.generation > 1_000_000_000_000  # the clock in ms
    assert second.orders == first.orders


def test_other_rejections_are_not_retried_until_something_changes() -> None:
    runner = _runner()
    (first,) = runner.step(at())
    runner.published(first, {"accepted": False, "error": "orders[0].price: off the tick"})
    assert runner.step(at()) == []


def test_unheard_targets_keep_their_generation() -> None:
    runner = _runner()
    (first,) = runner.step(at())
    runner.unheard(first)
    (again,) = runner.step(at())
    assert again.generation == first.generation


def test_events_of_other_keys_are_ignored() -> None:
    runner = _runner()
    other = TargetState(account=ACCOUNT, symbol="ETH/USDT", generation=9, strategy="x")
    event = TargetPublished.create(
        Key(ACCOUNT, "ETH/USDT"), Producer.INTAKE, TargetPublishedData(target=other)
    )
    runner.apply(event)
    (target,) = runner.step(at())
    assert target.generation == 1
