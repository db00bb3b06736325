"""Output off a terminal is never cut, and `replay --until` takes the forms it lists."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from setpoint.ops import output
from setpoint.ops import replay as replay_cmd
from setpoint.ops import status as status_cmd
from setpoint.ops.exits import USAGE
from setpoint.ops.replay import UNTIL_FORMS, Until

LONG_ID = "sp-demo-r3j7nl-h4eevdgsyx3s-a-very-long-intent-identifier-that-is-pasted-1"


class Pipe(io.StringIO):
    """stdout redirected to a file or a pipe."""

    def isatty(self) -> bool:
        return False


def _status_body() -> dict[str, Any]:
    key = {
        "account": "demo", "symbol": "BTC/USDT:USDT", "generation": 12345,
        "condition": "converged", "reasons": ["TargetExpired", "LiquidateOnly"],
        "open_orders_target": 3, "open_orders_venue": 3,
        "position_target": "0.00100000", "position_actual": "0.00100000",
        "last_reconciliation": "2026-01-05T09:00:00.123456Z",
    }  # fmt: skip
    service = {"service": "differ", "answered": True, "ready": True, "version": "0.1.0",
               "started_at": "2026-01-05T09:00:00Z"}  # fmt: skip
    return {"nats": "nats://127.0.0.1:4222", "services": [service], "keys": [key]}


def test_status_off_a_terminal_prints_every_word_whole() -> None:
    out = Pipe()
    status_cmd.render(_status_body(), output.console(out))
    text = out.getvalue()
    assert "…" not in text
    for word in ("converged", "TargetExpired, LiquidateOnly", "2026-01-05T09:00:00.123456Z"):
        assert word in text


def test_replay_off_a_terminal_prints_client_order_ids_whole() -> None:
    order = {"client_order_id": LONG_ID, "order_id": "1234567890123", "side": "buy",
             "price": "59940.00", "quantity": "0.00100", "filled": "0"}  # fmt: skip
    key = {"account": "demo", "symbol": "BTC/USDT", "generation": 3, "position": "0",
           "target_position": None, "intents": [], "open_orders": [order]}  # fmt: skip
    out = Pipe()
    replay_cmd.render({"position": 42, "keys": [key]}, output.console(out))
    assert LONG_ID in out.getvalue()
    assert "…" not in out.getvalue()


def test_on_a_terminal_long_cells_wrap_instead_of_an_ellipsis() -> None:
    from rich.console import Console

    out = io.StringIO()
    replay_cmd.render(
        {"position": 1, "keys": [{"account": "demo", "symbol": "BTC/USDT", "generation": 1,
          "position": "0", "target_position": None, "intents": [],
          "open_orders": [{"client_order_id": LONG_ID, "order_id": "1", "side": "buy",
                           "price": "1", "quantity": "1", "filled": "0"}]}]},
        Console(file=out, width=60),
    )  # fmt: skip
    assert "…" not in out.getvalue()


NOW = datetime(2026, 1, 5, 20, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "ago"),
    [("5m", timedelta(minutes=5)), ("2h ago", timedelta(hours=2)), ("90s", timedelta(90)
     / 86400), ("1d", timedelta(days=1)), ("10 m ago", timedelta(minutes=10))],
)  # fmt: skip
def test_until_a_time_ago(text: str, ago: timedelta) -> None:
    assert Until.parse(text, now=NOW).time == NOW - ago


def test_until_a_time_of_day_is_today_in_local_time() -> None:
    until = Until.parse("19:50:20", now=NOW).time
    assert until is not None
    local = until.astimezone()
    assert (local.hour, local.minute, local.second) == (19, 50, 20)
    assert local.date() == NOW.astimezone().date()
    assert Until.parse("19:50", now=NOW).time == until - timedelta(seconds=20)


def test_until_rfc3339_and_positions_still_work() -> None:
    assert Until.parse("2026-01-05T09:00:00Z", now=NOW).time == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert Until.parse(" 17 ").position == 17


@pytest.mark.parametrize("text", ["yesterday", "5 minutes", "25:99", "-5m", "5y", "12:3"])
def test_a_bad_until_is_refused_with_the_accepted_forms(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError):
        Until.parse(text, now=NOW)
    parser = argparse.ArgumentParser()
    replay_cmd.add_arguments(parser)
    assert replay_cmd.main(None, parser.parse_args([f"--until={text}"])) == USAGE
    error = capsys.readouterr().err
    assert f"--until {text!r} is neither a position nor a time" in error
    assert all(form in error for form in UNTIL_FORMS)


@given(st.integers(min_value=0, max_value=10_000), st.sampled_from("smhd"))
def test_every_relative_form_is_before_now(amount: int, unit: str) -> None:
    until = Until.parse(f"{amount}{unit} ago", now=NOW).time
    assert until is not None
    assert until <= NOW


@pytest.mark.parametrize(
    ("condition", "colour"),
    [("converged", "32"), ("drifting", "33"), ("unverified", "35"), ("degraded", "31")],
)
def test_status_colours_conditions_on_a_terminal_only(condition: str, colour: str) -> None:
    body = _status_body()
    body["keys"][0]["condition"] = condition
    from rich.console import Console

    tty = io.StringIO()
    status_cmd.render(body, Console(file=tty, force_terminal=True, width=300))
    assert f"\x1b[{colour}m{condition}" in tty.getvalue()
    pipe = Pipe()
    status_cmd.render(body, output.console(pipe))
    assert "\x1b[" not in pipe.getvalue()
    assert condition in pipe.getvalue()


def test_status_shows_positions_at_the_markets_step() -> None:
    body = _status_body()
    body["keys"][0] |= {"position_target": "0.5", "position_actual": "0", "step": "0.001"}
    out = Pipe()
    status_cmd.render(body, output.console(out))
    assert "0.500/0.000" in out.getvalue()
    del body["keys"][0]["step"]  # an older differ, or markets not loaded: as given
    out = Pipe()
    status_cmd.render(body, output.console(out))
    assert "0.5/0" in out.getvalue()
