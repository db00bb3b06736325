"""One running system (nats-server, simulator, gateway, differ, executor as processes)
shared by the execution-path e2e tests; each test uses its own symbol or intents. A test
that disturbs the system it runs on (restarting its server) takes one of its own.

The shared system is one per venue dialect: a test marked `both_dialects` runs on the
Binance and on the OKX dialect (`both_dialects(long=True)`: its OKX run is marked `long`,
deselected by default), any other on Binance only. Every test of the shared system is
parametrised (`[binance]`, `[okx]`), so each dialect's system is started once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from system import System, running

DEFAULT_DIALECT = "binance"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise `system` by dialect (module docstring); a test module that defines a
    `system` of its own is left alone."""
    if "system" not in metafunc.fixturenames or _own_system_fixture(metafunc):
        return
    marker = metafunc.definition.get_closest_marker("both_dialects")
    if marker is None:
        params: list[object] = [DEFAULT_DIALECT]
    else:
        okx_marks = [pytest.mark.long] if marker.kwargs.get("long") else []
        params = [DEFAULT_DIALECT, pytest.param("okx", marks=okx_marks)]
    metafunc.parametrize("system", params, indirect=True, scope="session")


def _own_system_fixture(metafunc: pytest.Metafunc) -> bool:
    return "system" in vars(metafunc.module)


@pytest.fixture(scope="session")
async def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    """The shared system of the test's dialect (`request.param`, module docstring)."""
    dialect = getattr(request, "param", DEFAULT_DIALECT)
    directory = tmp_path_factory.mktemp(f"e2e-{dialect}")
    async with running(System(directory, dialect=dialect)) as shared:
        yield shared


@pytest.fixture
async def own_system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """A system of its own: restarting the server of the shared one would disturb others."""
    async with running(System(tmp_path_factory.mktemp("nats-restart"))) as own:
        yield own
