"""`setpoint creds`: issue, list and revoke NATS credentials (docs/operations.md, "Security").

    setpoint creds issue --strategy NAME --accounts A,B   targets and log reads of A and B
    setpoint creds issue --auditor NAME                   reads the log, writes nothing
    setpoint creds issue --console NAME                   status, health and log reads
    setpoint creds list
    setpoint creds revoke NAME

Issuing prints the credential file's path (its content, the nkey seed, is never printed),
the identity's public key and the inbox prefix its client must use. Both issue and revoke
render the server configuration again and ask the server `setpoint up` runs to reload it
(SIGHUP): a revoked identity cannot connect any more, and its open connections are closed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from setpoint.bus.credentials import security_dir, seed_file
from setpoint.bus.permissions import Kind, inbox_prefix
from setpoint.config import load_settings
from setpoint.core.errors import UsageError
from setpoint.ops.exits import OK, USAGE
from setpoint.ops.security import issue, load_identities, reload_server, revoke


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    issuing = sub.add_parser("issue", help="issue (or rescope) a credential")
    who = issuing.add_mutually_exclusive_group(required=True)
    who.add_argument("--strategy", metavar="NAME", help="a strategy's credential")
    who.add_argument("--auditor", metavar="NAME", help="a read-only credential for the log")
    who.add_argument("--console", metavar="NAME", help="a read-only console's credential")
    issuing.add_argument("--accounts", help="the trading accounts a strategy may target: A,B")
    sub.add_parser("list", help="the identities and what they may do")
    revoking = sub.add_parser("revoke", help="remove a credential and reload the server")
    revoking.add_argument("name")


def main(config: str | None, args: argparse.Namespace) -> int:
    data_dir = Path(load_settings(config).nats.data_dir).resolve()
    try:
        if args.action == "list":
            return _list(data_dir)
        if args.action == "revoke":
            identity = revoke(data_dir, args.name)
            print(f"revoked {identity.name} ({identity.kind.value})")
        else:
            kind, name, accounts = _what(args)
            identity = issue(data_dir, name, kind, accounts)
            print(f"issued {identity.name} ({identity.kind.value}"
                  + (f", accounts {','.join(accounts)}" if accounts else "") + ")")  # fmt: skip
            print(f"credential: {seed_file(data_dir, name)}  (nats.credentials = "
                  f'"file:{seed_file(data_dir, name)}")')  # fmt: skip
            print(f"public key: {identity.public_key}")
            print(f"inbox prefix: {inbox_prefix(identity.public_key)}")
    except UsageError as exc:
        print(f"setpoint creds: {exc}")
        return USAGE
    pid = reload_server(data_dir)
    if pid is None:
        print("no running server found: the next `setpoint up` uses the new configuration")
    else:
        print(f"reloaded nats-server (pid {pid})")
    return OK


def _what(args: argparse.Namespace) -> tuple[Kind, str, tuple[str, ...]]:
    accounts = tuple(a.strip() for a in (args.accounts or "").split(",") if a.strip())
    if args.strategy is not None:
        if not accounts:
            raise UsageError("a strategy's credential needs --accounts A[,B...]")
        bad = [a for a in accounts if not a.replace("-", "").replace("_", "").isalnum()]
        if bad:
            raise UsageError(f"--accounts: {', '.join(bad)} is not an account name")
        return Kind.STRATEGY, args.strategy, accounts
    if accounts:
        raise UsageError("--accounts is for a strategy's credential only")
    if args.auditor is not None:
        return Kind.AUDITOR, args.auditor, ()
    return Kind.CONSOLE, args.console, ()


def _list(data_dir: Path) -> int:
    identities = load_identities(data_dir)
    if not identities:
        print(f"no identities in {security_dir(data_dir)} (run `setpoint up` first)")
        return OK
    for identity in sorted(identities.values(), key=lambda i: i.name):
        scope = f" accounts {','.join(identity.accounts)}" if identity.accounts else ""
        print(f"{identity.name}  {identity.kind.value}{scope}  {identity.public_key}")
    return OK
