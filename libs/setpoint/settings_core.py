"""The core's policy values, built from the settings.

The pure core never reads the configuration: a service turns the account's settings into
the values the core takes (`RiskLimits`, `ReconcilePolicy`) here, and passes them in.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from immutables import Map

from setpoint.config import AccountConfig, Settings
from setpoint.core.projections import LossClock
from setpoint.core.reconcile import ReconcilePolicy
from setpoint.core.risk import NO_LIMITS, RiskLimits

__all__ = ["loss_clocks", "purge_after", "reconcile_policy", "risk_limits"]


def risk_limits(config: AccountConfig) -> RiskLimits:
    """The account's risk limits (None in the settings = no limit); the same value for the
    same settings (built once per account configuration).

    Asked per decision: the configuration object last seen answers first, by identity
    (the cache below hashes all of the configuration's fields, a few µs a call)."""
    last = _LAST_LIMITS.get(id(config))
    if last is not None and last[0] is config:
        return last[1]
    limits = _risk_limits(config)
    if len(_LAST_LIMITS) >= _LAST_LIMITS_MAX:
        _LAST_LIMITS.clear()
    _LAST_LIMITS[id(config)] = (config, limits)  # holds `config`: its id is not reused
    return limits


_LAST_LIMITS: dict[int, tuple[AccountConfig, RiskLimits]] = {}
_LAST_LIMITS_MAX = 64


@lru_cache(maxsize=64)
def _risk_limits(config: AccountConfig) -> RiskLimits:
    window = config.loss_window_s
    limits = RiskLimits(
        max_order_notional=config.max_order_notional,
        max_open_orders_per_key=config.max_open_orders_per_key,
        price_band_bps=config.price_band_bps,
        max_position=config.max_position,
        max_position_notional=config.max_position_notional,
        max_gross_exposure=config.max_gross_exposure,
        max_net_exposure=config.max_net_exposure,
        max_margin_ratio=config.max_margin_ratio,
        max_orders_per_s=config.max_orders_per_s,
        max_orders_per_min=config.max_orders_per_min,
        max_loss=config.max_loss,
        loss_window=None if window is None else timedelta(seconds=window),
        loss_reset_at=config.loss_reset_at,
    )
    return NO_LIMITS if limits == NO_LIMITS else limits


def reconcile_policy(
    config: AccountConfig, target_symbols: frozenset[str], *, cancel_foreign: bool = False
) -> ReconcilePolicy:
    """The account's reconciliation rules; `target_symbols` have or had a target.
    `cancel_foreign` (the account is in `flatten_all`): every foreign order found anywhere
    on the account is cancelled, whatever `zombie_policy` and `zombie_scope` say."""
    policy, scope = config.zombie_policy, config.zombie_scope
    if cancel_foreign:
        policy, scope = "cancel", "account"
    return ReconcilePolicy(
        policy, scope, config.in_flight_timeout_s,
        config.not_found_retries, config.not_found_min_age_s, target_symbols,
    )  # fmt: skip


def purge_after(settings: Settings) -> Map[str, timedelta]:
    """Per account, how long after an order closes the live projections drop it, and how
    far behind the key's newest fill they keep trade ids (`ActualState.purge_after`,
    `PortfolioState.forget_after`): `purge_closed_orders_after_s`, at least the account's
    `open_order_lookback_s` (a reconciliation reads the trades that far back again, and
    must find every one it shows already known); accounts whose
    `purge_closed_orders_after_s` is 0 keep everything."""
    return Map(
        (
            name,
            timedelta(
                seconds=max(account.purge_closed_orders_after_s, account.open_order_lookback_s)
            ),
        )
        for name, account in settings.accounts.items()
        if account.purge_closed_orders_after_s
    )


def loss_clocks(settings: Settings) -> Map[str, LossClock]:
    """Per account with a ``max_loss``, how the portfolio fold counts its loss
    (`PortfolioState.clocks`: over `loss_window_s`, or since `loss_reset_at`)."""
    clocks: dict[str, LossClock] = {}
    for name, account in settings.accounts.items():
        limits = risk_limits(account)
        if limits.max_loss is not None:
            clocks[name] = LossClock(limits.loss_window, limits.loss_reset_at)
    return Map(clocks)
