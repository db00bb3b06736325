"""`setpoint init [DIR] [--venue demo|binance|okx] [--force]`: write a commented setpoint.toml.

DIR (default: the current directory) is created when missing; an existing setpoint.toml
there is left alone unless `--force` (one identical to the template is fine: exit 0).
The file is one of `TEMPLATES`, each loadable by `config.load_settings` as written:

* `demo` (default): the built-in demo spelt out (the simulator, account `demo`, the grid on
  BTC/USDT), with `demo = true` so that `setpoint up` gives the simulator's credentials;
* `binance`: a real Binance account `main`, keys as `env:` references, risk limits set;
* `okx`: a real OKX account `main`, keys and API passphrase as `env:` references.

Exit status 0 when written, 2 when the file exists (without `--force`) or DIR cannot be
written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from setpoint.config import DEFAULT_PATH
from setpoint.ops.exits import OK, USAGE

_HEAD = """\
# Setpoint configuration, written by `setpoint init` ({venue}).
# Every key is described in docs/services.md ("Configuration keys that matter") and
# docs/operations.md; any key can be overridden from the environment as
# SETPOINT_<SECTION>__<KEY> (e.g. SETPOINT_NATS__URL). Secrets are never written here:
# api_key, secret and passphrase are references, env:NAME or file:PATH, read by the
# gateway only.
{top}
[nats]
# `setpoint up` starts a local nats-server with JetStream when nothing answers at url;
# its store, the logs (.setpoint/logs) and the simulator's state live in data_dir.
url = "nats://127.0.0.1:4222"
embedded = true
data_dir = ".setpoint"

[console]
# the read-only web console `setpoint up` starts (http://127.0.0.1:8780/); bound to any
# other address it needs token = "env:NAME"
host = "127.0.0.1"
port = 8780
"""

_DEMO_TOP = """
# The simulator's demo credentials (demo-key / demo-secret / demo-passphrase) are given
# to the services by `setpoint up` as SETPOINT_DEMO_KEY / SETPOINT_DEMO_SECRET /
# SETPOINT_DEMO_PASSPHRASE.
demo = true
"""

_DEMO = """
[accounts.demo]
# a Binance-compatible venue at a local address where nothing answers yet:
# `setpoint up` starts the simulator there
exchange = "binance"
base_url = "http://127.0.0.1:8765"
api_key = "env:SETPOINT_DEMO_KEY"
secret = "env:SETPOINT_DEMO_SECRET"
# foreign open orders on the account: "ignore", "adopt" or "cancel"
zombie_policy = "ignore"
reconcile_interval_s = 30

[accounts.demo-okx]
# a second venue: an OKX-compatible simulator at port 8766 ([sims.okx] below); no
# strategy trades it, publish targets by hand (`setpoint target set --account demo-okx`)
exchange = "okx"
base_url = "http://127.0.0.1:8766"
api_key = "env:SETPOINT_DEMO_KEY"
secret = "env:SETPOINT_DEMO_SECRET"
passphrase = "env:SETPOINT_DEMO_PASSPHRASE"
zombie_policy = "ignore"
reconcile_interval_s = 30

[sim]
# the venue simulator (docs/simulator.md); its book survives a restart in state_file
port = 8765
state_file = ".setpoint/sim-state"

[sims.okx]
# a second simulator, speaking OKX's API (`setpoint run sim --sim okx`)
port = 8766
dialect = "okx"
state_file = ".setpoint/sim-okx-state"

[strategies.grid-1]
# the demo's grid strategy, quoting BTC/USDT on account demo (docs/strategies.md)
kind = "grid"
account = "demo"
symbol = "BTC/USDT"
"""

_REAL = """
[accounts.main]
# the real {name}: no base_url. Export the variables below before `setpoint up`.
exchange = "{exchange}"
api_key = "env:{prefix}_API_KEY"
secret = "env:{prefix}_API_SECRET"
{extra}# foreign open orders (placed by hand or another system): leave them alone
zombie_policy = "ignore"
zombie_scope = "keys"
reconcile_interval_s = 30
# risk limits, checked when planning and again before each order is sent; start small
max_order_notional = "1000"
max_open_orders_per_key = 20
price_band_bps = 500

# No strategy is started: publish targets from your own program (docs/strategies.md) or
# with `setpoint target set`. To run the built-in grid on this account instead:
# [strategies.grid-1]
# kind = "grid"
# account = "main"
# symbol = "BTC/USDT"
"""

_OKX_PASSPHRASE = 'passphrase = "env:OKX_API_PASSPHRASE"\n'

TEMPLATES = {
    "demo": _HEAD.format(venue="demo: the venue simulator", top=_DEMO_TOP) + _DEMO,
    "binance": _HEAD.format(venue="a Binance account", top="")
    + _REAL.format(name="Binance", exchange="binance", prefix="BINANCE", extra=""),
    "okx": _HEAD.format(venue="an OKX account", top="")
    + _REAL.format(name="OKX", exchange="okx", prefix="OKX", extra=_OKX_PASSPHRASE),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", default=".", metavar="DIR", help="default: here")
    parser.add_argument(
        "--venue",
        choices=sorted(TEMPLATES),
        default="demo",
        help="demo (the simulator, default), or a real binance or okx account",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing file")


def main(config: str | None, args: argparse.Namespace) -> int:
    target = Path(args.dir) / DEFAULT_PATH
    try:
        written = write(target, args.venue, force=args.force)
    except OSError as exc:  # FileExistsError among them
        print(f"setpoint init: {exc}", file=sys.stderr)
        return USAGE
    print(f"{'wrote' if written else 'already there, unchanged:'} {target} ({args.venue})")
    print(f"next: cd {args.dir} && setpoint up" if args.dir != "." else "next: setpoint up")
    return OK


def write(path: Path, venue: str, *, force: bool = False) -> bool:
    """Write the `venue` template to `path` (its directory made when missing); False when
    `path` already holds exactly that template (running the README's first command twice
    is harmless). FileExistsError when `path` holds anything else and not `force`."""
    if path.is_file() and path.read_text(encoding="utf-8") == TEMPLATES[venue]:
        return False
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; --force replaces it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATES[venue], encoding="utf-8")
    return True
