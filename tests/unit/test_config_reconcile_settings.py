"""The reconciliation settings of an account: defaults, refused values with the key named,
and what the services make of them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from setpoint.config import AccountConfig, Settings
from setpoint.settings_core import purge_after


def test_defaults() -> None:
    config = AccountConfig()
    assert config.reconcile_startup_delay_s == 10
    assert config.in_flight_check_interval_s == 2
    assert config.open_order_lookback_s == 600
    assert config.purge_closed_orders_after_s == 3600


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("reconcile_startup_delay_s", -1, "must be between 0 and 3600 seconds, not -1"),
        ("reconcile_startup_delay_s", 7200, "must be between 0 and 3600 seconds, not 7200"),
        ("in_flight_check_interval_s", 0, "must be a number of seconds above 0, not 0"),
        ("in_flight_check_interval_s", -2, "must be a number of seconds above 0, not -2"),
        ("reconcile_interval_s", 0, "must be a number of seconds above 0, not 0"),
        ("open_order_lookback_s", 0, "must be above 0 and at most 604800 seconds"),
        ("open_order_lookback_s", 8 * 86400, "must be above 0 and at most 604800 seconds"),
        ("purge_closed_orders_after_s", 30, "must be 0 (never purge) or at least 60 seconds"),
        ("purge_closed_orders_after_s", -1, "must be 0 (never purge) or at least 60 seconds"),
        ("in_flight_check_interval_s", "soon", "valid number"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(key: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(accounts={"demo": {key: value}})
    text = str(caught.value)
    assert f"accounts.demo.{key}" in text
    assert message in text


def test_purge_buffers_per_account() -> None:
    settings = Settings(
        accounts={
            "a": {},
            "b": {"purge_closed_orders_after_s": 0},
            "c": {"purge_closed_orders_after_s": 90, "open_order_lookback_s": 60},
            "d": {"purge_closed_orders_after_s": 90},
        }
    )
    assert dict(purge_after(settings)) == {
        "a": timedelta(hours=1),
        "c": timedelta(seconds=90),
        "d": timedelta(seconds=600),  # never below the lookback: its trades are read again
    }


def test_a_service_started_with_a_bad_value_stops_with_a_clear_error(tmp_path: Path) -> None:
    """No traceback: one usage error naming the key, status 2, before anything starts."""
    config = tmp_path / "setpoint.toml"
    config.write_text(
        '[accounts.demo]\nbase_url = "http://127.0.0.1:9"\nin_flight_check_interval_s = 0\n'
    )
    env = {**os.environ, "SETPOINT_CONFIG": str(config)}
    done = subprocess.run(
        [sys.executable, "-m", "setpoint", "run", "gateway"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert (
        "setpoint run: configuration: accounts.demo.in_flight_check_interval_s: must be a "
        "number of seconds above 0, not 0"
    ) in done.stderr
