"""A configuration value that cannot be used ends every command that loads the
configuration with one line on stderr naming the field and the problem, and exit status 2
(`ops.exits.USAGE`), never a traceback; a secret written in place of a reference is never
repeated. Each command family runs as a real `python -m setpoint` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from setpoint.config import load_settings
from setpoint.core.errors import ConfigError

BAD = """
[accounts.demo]
exchange = "binance"
base_url = "http://127.0.0.1:1"
max_position = "-1"
"""
FIELD = "accounts.demo.max_position: a limit must be above 0 (leave it out for no limit), not -1"


def run(tmp_path: Path, text: str, *command: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "setpoint.toml"
    config.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETPOINT_")}
    return subprocess.run(
        [sys.executable, "-m", "setpoint", "--config", str(config), *command],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path, env=env,
    )  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        ("run", "differ"),
        ("run", "gateway"),
        ("up",),
        ("status",),
        ("kill", "--account", "demo"),
        ("audit",),
    ],
    ids=lambda c: " ".join(c),
)
def test_a_bad_value_is_one_line_naming_the_field(tmp_path: Path, command: tuple[str, ...]) -> None:
    done = run(tmp_path, BAD, *command)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [f"setpoint {command[0]}: configuration: {FIELD}"]
    assert "Traceback" not in done.stdout + done.stderr


def test_several_problems_stay_on_one_line_and_never_repeat_a_secret(tmp_path: Path) -> None:
    text = BAD + 'api_key = "AKIA-the-real-key"\nmax_margin_ratio = "1.5"\n'
    done = run(tmp_path, text, "status")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "accounts.demo.api_key: must be a reference" in line
    assert "accounts.demo.max_margin_ratio: a margin ratio is above 0 and at most 1" in line
    assert "AKIA-the-real-key" not in done.stdout + done.stderr


def test_a_file_that_is_not_toml_is_one_line(tmp_path: Path) -> None:
    done = run(tmp_path, "[accounts.demo\n", "run", "differ")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("setpoint run: configuration: ")
    assert "is not valid TOML" in line


def test_load_settings_raises_config_error(tmp_path: Path) -> None:
    config = tmp_path / "setpoint.toml"
    config.write_text(BAD)
    with pytest.raises(ConfigError, match=r"accounts\.demo\.max_position: a limit must be above 0"):
        load_settings(str(config))
