"""Venue capabilities: one place that knows each venue, read from ccxt and our table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from setpoint.core.errors import ConfigError
from setpoint.core.ids import IdScheme
from setpoint.core.model import MarketKind
from setpoint.venues.capabilities import (
    AmendStyle,
    ClientIdRule,
    capabilities,
    id_scheme,
    rules,
)

ROOT = Path(__file__).resolve().parents[3]


def test_binance() -> None:
    caps = capabilities("binance")
    assert caps.id_scheme is IdScheme.DASHED  # the ids of every log written so far
    assert caps.amend_style(MarketKind.SPOT) is AmendStyle.REPLACE  # order/cancelReplace
    assert caps.amend_style(MarketKind.SWAP) is AmendStyle.IN_PLACE  # PUT /fapi/v1/order
    assert caps.open_orders_account_wide
    assert caps.reads_position_mode
    assert caps.rate_model.kind == "weight"
    assert not caps.rules.passphrase


def test_okx() -> None:
    caps = capabilities("okx")
    assert caps.id_scheme is IdScheme.COMPACT  # clOrdId: letters and digits, at most 32
    assert caps.rules.client_ids == ClientIdRule(caps.rules.client_ids.alphabet, 32)
    assert not caps.rules.client_ids.allows("sp-abc")
    assert caps.amend_style(MarketKind.SPOT) is AmendStyle.IN_PLACE  # trade/amend-order
    assert not caps.open_orders_account_wide
    assert caps.rate_model.kind == "endpoint"
    assert caps.rules.passphrase


def test_a_venue_outside_our_table_gets_the_conservative_rules() -> None:
    caps = capabilities("kraken")
    assert caps.id_scheme is IdScheme.COMPACT
    assert caps.amend_style(MarketKind.SPOT) is AmendStyle.NONE
    assert not caps.open_orders_account_wide
    assert caps.rate_model.kind == "calls"
    assert id_scheme("kraken") is IdScheme.COMPACT


def test_an_unknown_exchange_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="'nosuchvenue' is not a ccxt exchange id"):
        capabilities("nosuchvenue")


def test_a_rule_no_scheme_fits_is_refused() -> None:
    with pytest.raises(ConfigError, match="no client order id scheme fits"):
        ClientIdRule(frozenset("0123456789"), 20).scheme()


_NAME_CHECK = re.compile(r"""(==|!=|\bin\b)\s*[\(\[{]?\s*["'](binance|okx)["']""")


def test_no_module_but_the_capabilities_tests_a_venue_name() -> None:
    """`if exchange == "binance"` lives nowhere in libs/ and services/ outside the venue
    table (the simulator, which is a venue, speaks its dialects by name)."""
    found = []
    for tree in ("libs", "services"):
        for path in (ROOT / tree).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("services/setpoint/sim/") or rel.endswith("capabilities.py"):
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if _NAME_CHECK.search(line):
                    found.append(f"{rel}:{n}: {line.strip()}")
    assert found == []


def test_each_venues_dead_man_switch_and_its_bounds() -> None:
    binance, okx = rules("binance").dead_man, rules("okx").dead_man
    assert binance is not None
    assert okx is not None
    assert (binance.per_symbol, okx.per_symbol) == (True, False)
    assert okx.method == "cancel_all_orders_after"
    assert [okx.countdown_s(s) for s in (1, 60, 3600)] == [10, 60, 120]
    assert binance.countdown_s(1.5) == 1.5
    assert rules("kraken").dead_man is None


def test_the_futures_wallet_is_read_where_we_know_its_fields() -> None:
    assert rules("binance").reads_margin
    assert not rules("okx").reads_margin
    assert not rules("kraken").reads_margin


def test_an_account_may_set_the_capacity_of_a_limit_the_venue_counts() -> None:
    binance = capabilities("binance")
    assert binance.capacities({"binance-spot-orders": 200}) == {"binance-spot-orders": 200}
    with pytest.raises(
        ConfigError,
        match=r"'binance-spot-order' not counted by binance \(its limits: 'binance-spot-orders'",
    ) as caught:
        binance.capacities({"binance-spot-order": 200})
    assert "'binance-usdm-weight'" in str(caught.value)
    assert capabilities("okx").capacities({"okx POST trade/order": 120})


def test_a_capacity_must_be_a_positive_count() -> None:
    from pydantic import ValidationError

    from setpoint.config import AccountConfig

    for bad in (0, -5, "many"):
        with pytest.raises(ValidationError, match="venue_rate_limits"):
            AccountConfig(venue_rate_limits={"binance-spot-orders": bad})
    with pytest.raises(ValidationError, match="must be a table of limit name = count"):
        AccountConfig(venue_rate_limits=[1, 2])
