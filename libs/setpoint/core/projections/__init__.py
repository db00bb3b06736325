"""The intent store and the actual store: pure folds of the event log (docs/semantics.md §5).

Both stores span every key and record the log position they have folded up to
(`state.position`). `apply_intent` / `apply_actual` take `(state, position, event)` and
return the next state; an event at a position at or below `state.position` changes nothing,
so resuming a fold from a checkpoint is idempotent. `rebuild(records)` folds both from
scratch: the same records always give equal states (`==`).

Every value is immutable: records are NamedTuples, collections are `immutables.Map`s (HAMT),
so one event costs O(log n) and an old state stays valid after a newer one is made.

One module per concern: `journal` (which names changed, by sequence number), `intents`
(the intent store and its fold), `orders` (what the actual store records per order and per
intent), `actual` (the actual store's values and queries), `actual_folds` (what each event
does to it), `purge` (closed orders leaving the store after a per-account buffer of log
time, `ActualState.purge_after`) and `rebuild` (both stores from a run of records).
Importers use this package; `__all__` is its surface.

What each event does
====================

=======================  =====  ==============================================================
event                    store  effect
=======================  =====  ==============================================================
TargetPublished          I, A   becomes the key's accepted target when its generation is above
                                the last accepted one (else ignored); intents = its orders,
                                oco groups indexed, changed intent ids journaled. A: the
                                key's `listed` intent ids and `generation` (what the purge
                                never forgets), finished intents it no longer lists dropped
TargetRejected           -      nothing (the target in force is unchanged)
DiffComputed             I      last plan summary of the key (generation, converged)
MarketsLoaded            A      the account's markets, replaced as a whole
OrderSubmitted           A      new order, in flight (status None, pending "submit"); the
                                intent's attempt = max(attempt, this one); `replaces`: the old
                                order is marked pending "cancel". A duplicate coid: nothing.
OrderPlaced              A      venue acknowledged: order id, status, reported filled; pending
                                "submit" cleared; the intent's retry backoff cleared (open or
                                filled); a position order ended unfilled backs off (below)
OrderRejected            A      closed; terminal → REJECTED (intent consumed), else CANCELED
                                (placed again under the next attempt, after a backoff: the
                                intent's `backoff` entry counts consecutive rejections n and
                                sets retry_after = occurred_at + min(60 s, 1 s * 2**(n-1));
                                position orders share the entry `POSITION_BACKOFF`)
CancelSubmitted          A      order pending "cancel" since occurred_at (no second action
                                until answered)
AmendSubmitted           A      open order pending "amend" since occurred_at (no second action
                                until the answer, an OrderObserved, gives the venue's price and
                                total size; ids, attempt and fills unchanged)
OrderCancelled           A      closed: CANCELED (EXPIRED for reason "expired"), reported
                                filled kept; pending cleared; fills are never rolled back.
                                Reason "lost" of an order still in flight, without venue id
                                or fill: marked `lost` (does not consume its intent); else a
                                position order with nothing filled backs off (below)
OrderObserved            A      venue state of a known order (status, filled, price, qty;
                                not-found count reset; open → pending "submit" cleared;
                                source amend → pending "amend" cleared; open,
                                source rest/query, occurred_at ≥ cancel sent + STALE_CANCEL →
                                a stale pending "cancel" or "amend" cleared: its answer was
                                lost, the
                                differ cancels again); open or filled clears the intent's
                                retry backoff; an unknown order is recorded (ours, or foreign
                                adopted/not)
OrderNotFound            A      the order's consecutive not-found count (first time noted);
                                client id "#<venue id>" names an order without a client id
FillObserved             A      once per (venue, trade id) per key (ids kept for the purge
                                buffer behind the key's newest fill): order filled += quantity,
                                capped at the order quantity (inferred fills: see below);
                                position and `fill_net` += signed applied quantity for our and
                                adopted orders (ours by client id when the order is unknown)
PositionObserved         A      position := reported quantity (derivatives) + the fills
                                counted since the read (`fill_net - fills_net`, when the event
                                names `fills_net`); later fills add
BalanceObserved          A      the account wallet's assets, merged by asset
ReconciliationCompleted  A      last reconciliation of the key (or account, symbol None)
AccountModeChanged       A      account mode (normal | liquidate_only)
RiskRejected             -      nothing (a decision, not a change of state)
MarginObserved           -      nothing here; the portfolio fold (`portfolio`: PnL, equity,
                                drawdown per key and account) reads it with the fills
=======================  =====  ==============================================================

Consumed (docs/semantics.md §1): an intent is consumed once one of its orders is completely filled,
an IOC/FOK/market attempt is closed (whatever it filled), or the venue rejected an attempt
as invalid. Cancelled or expired GTC orders do not consume their intent, and neither does a
lost attempt (docs/semantics.md §4: closed as `lost` while in flight, never acknowledged, no fill),
whatever its time in force: the differ places the intent again under the next attempt. A
fill that still turns up for a lost attempt counts, and the attempt then consumes as any.

Inferred fills: an order counts `min(quantity, max(sum of its real trades, the venue filled
quantity named by its inferred fills))`, whatever order those facts come in. An inferred
fill tops `filled` up to its `order_filled` (older events without it add their quantity);
`inferred` keeps the part of `filled` no real trade stands for yet, and a real trade first
replaces that part, then adds. So the trade an inference stood for never counts twice.

Retry backoff: a non-terminal rejection (insufficient funds, no gateway answering, bad
credentials) does not consume the intent, but the effective target leaves the intent out
until `retry_after` (`effective.py`, rule ``retry_backoff``), so such an order is tried 1 s,
2 s, 4 s … then every 60 s after its rejections, not in a tight loop. The entry goes when
an attempt is acknowledged (open or filled: OrderPlaced, OrderObserved, a fill that
completes it) or the intent is consumed (not for the position family, whose every IOC
attempt consumes its own intent id). Entries of intents the target no longer lists stay
until then (or until the purge forgets the intent); they exclude nothing.

Working totals: every event that changes an order of a key also keeps the key's
`buying` and `selling` (the remaining quantity of its live orders per side, orders with a
pending cancel left out) in step, O(1) per event, so the exposure gates never walk the
key's orders. Purge only drops closed orders, which these totals never count.

The position family (`POSITION_BACKOFF`) counts progress, not acknowledgements: a position
order the venue ends (EXPIRED or CANCELED, by OrderPlaced, OrderCancelled or OrderObserved)
with nothing filled (`done` 0, not `lost`) counts as one more failure, as a non-terminal
rejection does (an empty book would otherwise get a new IOC at once, every time), and its
entry goes only when an attempt fills something (counted or reported, even partly).

Position (docs/semantics.md §2): the last `PositionObserved` (zero if none) plus the signed fills
folded since; for a spot key that is simply the net of its fills.
"""

from setpoint.core.projections.actual import AccountActual, ActualState, KeyActual
from setpoint.core.projections.actual_folds import STALE_CANCEL, apply_actual
from setpoint.core.projections.intents import AcceptedTarget, IntentState, apply_intent
from setpoint.core.projections.journal import Journal, orphan_name
from setpoint.core.projections.orders import (
    POSITION_BACKOFF,
    Backoff,
    IntentProgress,
    OrderRecord,
    find_order,
    retry_delay,
)
from setpoint.core.projections.portfolio import (
    AccountPortfolio,
    KeyPortfolio,
    LossClock,
    PortfolioState,
    apply_portfolio,
)
from setpoint.core.projections.rebuild import rebuild

__all__ = [
    "POSITION_BACKOFF",
    "STALE_CANCEL",
    "AcceptedTarget",
    "AccountActual",
    "AccountPortfolio",
    "ActualState",
    "Backoff",
    "IntentProgress",
    "IntentState",
    "Journal",
    "KeyActual",
    "KeyPortfolio",
    "LossClock",
    "OrderRecord",
    "PortfolioState",
    "apply_actual",
    "apply_intent",
    "apply_portfolio",
    "find_order",
    "orphan_name",
    "rebuild",
    "retry_delay",
]
