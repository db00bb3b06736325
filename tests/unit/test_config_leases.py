"""`[leases]`: defaults keep one instance of everything; bad values are refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from setpoint.config import load_settings
from setpoint.errors import ConfigError


def settings_of(tmp_path: Path, text: str) -> object:
    path = tmp_path / "setpoint.toml"
    path.write_text(text)
    return load_settings(str(path))


def test_the_defaults_are_off_with_sixteen_partitions(tmp_path: Path) -> None:
    leases = settings_of(tmp_path, "").leases  # type: ignore[attr-defined]
    assert (leases.enabled, leases.partitions, leases.ttl_s) == (False, 16, 3.0)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("partitions = 0", "leases.partitions: Input should be greater than or equal to 1"),
        ("partitions = 5000", "leases.partitions: Input should be less than or equal to 1024"),
        ("ttl_s = 0.5", "leases.ttl_s: Input should be greater than or equal to 1"),
        ("ttl_s = 301", "leases.ttl_s: Input should be less than or equal to 300"),
        ("enabled = 'maybe'", "leases.enabled: Input should be a valid boolean"),
        ("owners = 2", "leases.owners: Extra inputs are not permitted"),
    ],
)
def test_a_bad_value_is_refused_naming_the_key(tmp_path: Path, line: str, error: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_of(tmp_path, f"[leases]\n{line}\n")
    assert error in str(raised.value)
