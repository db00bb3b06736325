"""The pure core: values and functions with no I/O and no asyncio.

It imports nothing of Setpoint outside `setpoint.core` (tests/unit/test_import_rules.py).
The names below are its public surface, with its modules (the two kernels are the
functions `diff.diff` and `reconcile.reconcile`; a module name is never also a name here).
Each name is loaded from its module on first use, so `import setpoint.core` stays as cheap
as the modules a caller actually touches.
"""

from typing import TYPE_CHECKING

from setpoint.core.lazy import lazy_names

if TYPE_CHECKING:
    from setpoint.core.audit import AuditChecker, AuditLimits, AuditReport
    from setpoint.core.diff import Plan
    from setpoint.core.effective import EffectiveTarget, effective_target
    from setpoint.core.errors import SetpointError
    from setpoint.core.events import Action, ActionKind, Event, EventParseError, parse_event
    from setpoint.core.model import (
        Key,
        MarketInfo,
        OrderType,
        Producer,
        Side,
        TargetOrder,
        TargetState,
        TimeInForce,
    )
    from setpoint.core.numeric import ZERO, Dec, strict_decimal
    from setpoint.core.projections import ActualState, IntentState
    from setpoint.core.reconcile import ReconcileOutcome, ReconcilePolicy
    from setpoint.core.risk import RiskLimits, check_action, screen

_WHERE = {
    "AuditChecker": "audit",
    "AuditLimits": "audit",
    "AuditReport": "audit",
    "Plan": "diff",
    "EffectiveTarget": "effective",
    "effective_target": "effective",
    "SetpointError": "errors",
    "Action": "events",
    "ActionKind": "events",
    "Event": "events",
    "EventParseError": "events",
    "parse_event": "events",
    "Key": "model",
    "MarketInfo": "model",
    "OrderType": "model",
    "Producer": "model",
    "Side": "model",
    "TargetOrder": "model",
    "TargetState": "model",
    "TimeInForce": "model",
    "ZERO": "numeric",
    "Dec": "numeric",
    "strict_decimal": "numeric",
    "ActualState": "projections",
    "IntentState": "projections",
    "ReconcileOutcome": "reconcile",
    "ReconcilePolicy": "reconcile",
    "RiskLimits": "risk",
    "check_action": "risk",
    "screen": "risk",
}
"""Public name -> the module of this package that defines it."""

__all__ = [
    "ZERO",
    "Action",
    "ActionKind",
    "ActualState",
    "AuditChecker",
    "AuditLimits",
    "AuditReport",
    "Dec",
    "EffectiveTarget",
    "Event",
    "EventParseError",
    "IntentState",
    "Key",
    "MarketInfo",
    "OrderType",
    "Plan",
    "Producer",
    "ReconcileOutcome",
    "ReconcilePolicy",
    "RiskLimits",
    "SetpointError",
    "Side",
    "TargetOrder",
    "TargetState",
    "TimeInForce",
    "check_action",
    "effective_target",
    "parse_event",
    "screen",
    "strict_decimal",
]

__getattr__ = lazy_names(__name__, _WHERE)
