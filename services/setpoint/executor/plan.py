"""The order in which the actions of one plan are carried out (pure).

A `DiffComputed` plan is a set of actions for one key. The executor runs it in stages:
all actions of a stage go out concurrently, a stage starts when the previous one has
been answered. `stages` decides:

* an `amend` becomes a cancel of the order it replaces plus a place of the new client
  order id (a native amend, `core.amend`, is sent by `staging` in a stage of its own
  before these; it comes here only when it falls back to cancel-then-place).
  The place always goes in a later stage than its cancel, and only when the cancel came
  back confirmed with no fill beyond what the plan assumed (`amends_ready`): otherwise the
  old order may have filled meanwhile and the new one would over-fill the intent, so it is
  left to the next plan;
* cancels run before places when a cancel frees the asset a place needs and the free
  balance (when known) does not already cover every place; otherwise one stage, so that
  a plain re-quote costs one round trip;
* within a stage the order of the plan is kept, except that the places of a stage that
  also cancels go first when none of them could trade against an order being cancelled
  and the free balance covers them even while the cancelled orders still lock theirs
  (`places_first`): the executor sends each action as soon as its own write-ahead is
  recorded, so the first of a stage reaches the venue one log append earlier, and a
  re-quote's new order need not wait for the old one's cancel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from setpoint.core.events import Action, ActionKind
from setpoint.core.model import MarketInfo, Side
from setpoint.core.numeric import ZERO

Stage = tuple[Action, ...]


def expand(actions: Sequence[Action]) -> tuple[list[Action], list[Action]]:
    """Split a plan into (cancels, places); each amend contributes one of each."""
    cancels: list[Action] = []
    places: list[Action] = []
    for action in actions:
        if action.kind is ActionKind.CANCEL:
            cancels.append(action)
        elif action.kind is ActionKind.PLACE:
            places.append(action)
        else:
            if action.replaces is not None:
                cancels.append(_cancel_of_amend(action))
            places.append(action.model_copy(update={"kind": ActionKind.PLACE}))
    return cancels, places


def _cancel_of_amend(action: Action) -> Action:
    assert action.replaces is not None
    return Action(
        kind=ActionKind.CANCEL,
        intent_id=action.intent_id,
        client_order_id=action.replaces,
        order_id=action.order_id,
        reason=f"amend to {action.client_order_id}",
    )


def needs(action: Action, market: MarketInfo) -> tuple[str, Decimal] | None:
    """The asset and amount an order locks while it rests (None when unknown)."""
    if action.side is None or action.quantity is None:
        return None
    if action.side is Side.SELL and not market.is_derivative:
        return market.base, action.quantity
    if action.price is None:
        return None
    return market.quote, action.price * action.quantity * market.contract_size


def _demand(places: Sequence[Action], market: MarketInfo) -> dict[str, Decimal] | None:
    total: dict[str, Decimal] = {}
    for place in places:
        need = needs(place, market)
        if need is None:
            return None
        total[need[0]] = total.get(need[0], ZERO) + need[1]
    return total


def _covered(demand: Mapping[str, Decimal] | None, free: Mapping[str, Decimal] | None) -> bool:
    if demand is None or free is None:
        return False
    return all(free.get(asset, ZERO) >= amount for asset, amount in demand.items())


def _frees_demanded(
    cancels: Sequence[Action], demand: Mapping[str, Decimal] | None, market: MarketInfo
) -> bool:
    if demand is None:
        return True
    for cancel in cancels:
        freed = needs(cancel, market)
        if freed is None or freed[0] in demand:
            return True
    return False


def stages(
    actions: Sequence[Action],
    market: MarketInfo | None,
    free: Mapping[str, Decimal] | None = None,
) -> tuple[Stage, ...]:
    """The stages of a plan (see the module docstring). Never drops or adds an action
    other than splitting amends; an empty plan has no stage."""
    cancels, places = expand(actions)
    if not cancels or not places:
        return tuple(s for s in (tuple(cancels), tuple(places)) if s)
    if market is None or any(p.replaces is not None for p in places):
        return (tuple(cancels), tuple(places))
    demand = _demand(places, market)
    if _covered(demand, free) or not _frees_demanded(cancels, demand, market):
        return (tuple(cancels) + tuple(places),)
    return (tuple(cancels), tuple(places))


def amends_ready(
    stage: Stage, cancelled: Mapping[str, Decimal], filled_before: Mapping[str, Decimal]
) -> Stage:
    """`stage` without the amend places that must wait: those whose replaced order was not
    confirmed cancelled (`cancelled`: client order id -> filled at the cancel), or that
    filled more during the cancel than when the plan began (`filled_before`)."""
    return tuple(
        a
        for a in stage
        if a.replaces is None
        or (
            a.replaces in cancelled and cancelled[a.replaces] <= filled_before.get(a.replaces, ZERO)
        )
    )


Resting = tuple[Side, Decimal | None, Decimal]
"""Side, price and remaining quantity of an order a stage cancels, as the projection knows it."""


def places_first(
    stage: Stage,
    resting: Mapping[str, Resting],
    market: MarketInfo | None,
    free: Mapping[str, Decimal] | None,
) -> Stage:
    """`stage` with its places (in plan order) before its cancels (in plan order) when that
    is safe, else `stage` unchanged. Safe means: every cancelled order is known (`resting`:
    client order id of a cancel -> its order), the free balance less what the cancelled
    orders still lock covers every place (the balance report may predate them, and a place
    that goes first must not depend on their funds), and no place could trade against a
    cancelled order (no market order; no buy at or above a cancelled sell, no sell at or
    below a cancelled buy). Never drops or adds an action."""
    cancels = tuple(a for a in stage if a.kind is ActionKind.CANCEL)
    places = tuple(a for a in stage if a.kind is not ActionKind.CANCEL)
    if not cancels or not places or market is None or free is None:
        return stage
    spare = dict(free)
    for cancel in cancels:
        order = resting.get(cancel.client_order_id)
        if order is None or any(_may_match(place, order[0], order[1]) for place in places):
            return stage
        lock = _locks(order, market)
        if lock is None:
            return stage
        spare[lock[0]] = spare.get(lock[0], ZERO) - lock[1]
    if not _covered(_demand(places, market), spare):
        return stage
    return places + cancels


def _locks(order: Resting, market: MarketInfo) -> tuple[str, Decimal] | None:
    """What a resting order still locks (None when unknown)."""
    side, price, remaining = order
    if side is Side.SELL and not market.is_derivative:
        return market.base, remaining
    if price is None:
        return None
    return market.quote, price * remaining * market.contract_size


def _may_match(place: Action, side: Side, price: Decimal | None) -> bool:
    if place.side is None:
        return True
    if place.side is side:
        return False
    if place.price is None or price is None:
        return True
    return place.price >= price if place.side is Side.BUY else place.price <= price
