"""The differ's per-key status (pure): what counts as wanted, and when a key is unverified.

Named scenarios over the kernel's builders: a log folded event by event, then
`key_status` / `unverified_reasons` as the service calls them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.unit.core.strategies import (
    KEY,
    MARKET,
    T0,
    Log,
    ev_fill,
    ev_not_found,
    ev_observed,
    ev_placed,
    order,
)

from setpoint.bus.messages import Condition, KeyStatus
from setpoint.core.events import (
    AccountMode,
    DiffComputedData,
    OrderStatus,
    ReconcileTrigger,
    ReconciliationCompletedData,
)
from setpoint.core.projections.actual import ReconcileSummary
from setpoint.differ.status import key_status, unverified_reasons

CONVERGED = DiffComputedData(generation=1, target_event_id=None, converged=True)


def _status(log: Log, decision: DiffComputedData | None = CONVERGED) -> KeyStatus:
    return key_status(
        KEY,
        log.intent.target(KEY),
        decision,
        log.ka(),
        mode=AccountMode.NORMAL,
        problem=None,
        last_reconciliation=None,
        now=T0,
    )


def _placed(log: Log, *intents: str) -> None:
    """Publish one generation with a buy per intent and have the venue acknowledge each."""
    log.publish([order(i, price=f"{100 - n}.00") for n, i in enumerate(intents)])
    for n, _ in enumerate(intents):
        action, _ = log.submit_first()
        log.append(ev_placed(action.client_order_id, f"v{n}"))


def test_a_filled_intent_is_no_longer_wanted() -> None:
    """After a complete fill the key is converged with 0 wanted and 0 at the venue, not
    "1 wanted / 0 at the venue"."""
    log = Log()
    _placed(log, "bid")
    assert (_status(log).open_orders_target, _status(log).open_orders_venue) == (1, 1)
    record = log.actual.live_orders(KEY)[0]
    log.append(ev_fill(record, "1.000", trade_id="t1"))
    assert log.actual.consumed(KEY, "bid")
    status = _status(log)
    assert status.condition is Condition.CONVERGED
    assert (status.open_orders_target, status.open_orders_venue) == (0, 0)


def test_a_partly_filled_intent_is_still_wanted() -> None:
    log = Log()
    _placed(log, "bid", "bid2")
    record = log.actual.order(KEY, log.ka().progress("bid").live[0])
    assert record is not None
    log.append(ev_fill(record, "0.400", trade_id="t1"))
    assert (_status(log).open_orders_target, _status(log).open_orders_venue) == (2, 2)


def test_an_order_the_venue_did_not_show_makes_the_key_unverified() -> None:
    """`OrdersNotFound`: the last reading missed an open order of the key; a later reading
    that finds it clears the reason."""
    log = Log()
    _placed(log, "bid")
    fresh = _recon(T0)
    assert unverified_reasons(log.ka(), fresh, inherited=True, not_before=T0) == ()
    record = log.actual.live_orders(KEY)[0]
    log.append(ev_not_found(record.client_order_id, 1))
    reasons = unverified_reasons(log.ka(), fresh, inherited=False, not_before=T0)
    assert reasons == ("OrdersNotFound",)
    status = key_status(
        KEY, log.intent.target(KEY), CONVERGED, log.ka(), mode=AccountMode.NORMAL,
        problem=None, last_reconciliation=T0, now=T0, unverified=reasons,
    )  # fmt: skip
    assert (status.condition, status.reasons) == (Condition.UNVERIFIED, ("OrdersNotFound",))
    log.append(ev_observed(record, OrderStatus.NEW, "0"))
    assert unverified_reasons(log.ka(), fresh, inherited=False, not_before=T0) == ()


def test_not_reconciled_and_not_found_are_both_given() -> None:
    log = Log()
    _placed(log, "bid")
    log.append(ev_not_found(log.actual.live_orders(KEY)[0].client_order_id, 1))
    old = _recon(T0 - timedelta(minutes=5))
    reasons = unverified_reasons(log.ka(), old, inherited=True, not_before=T0)
    assert reasons == ("NotReconciled", "OrdersNotFound")


def _recon(at: datetime) -> ReconcileSummary:
    """A successful periodic reconciliation of the key at `at`."""
    data = ReconciliationCompletedData(trigger=ReconcileTrigger.PERIODIC, ok=True)
    return ReconcileSummary(1, at, data)


def test_the_status_carries_the_markets_tick_and_step() -> None:
    log = Log()
    _placed(log, "bid")
    assert (_status(log).tick, _status(log).step) == (None, None)  # markets not loaded
    status = key_status(
        KEY, log.intent.target(KEY), CONVERGED, log.ka(), mode=AccountMode.NORMAL,
        problem=None, last_reconciliation=None, now=T0, market=MARKET,
    )  # fmt: skip
    assert (status.tick, status.step) == (MARKET.tick, MARKET.step)
