"""How a client presents itself to NATS: its nkey credential and TLS, from `[nats]`.

`client_options(nats)` is what `nats.connect` needs beyond the url:

* `nats.credentials` (a reference, `env:NAME` or `file:PATH`, to an nkey user seed) →
  `nkeys_seed_str` and `inbox_prefix` = `_INBOX.<public key>` (each identity may read only
  its own inbox; `setpoint.bus.permissions`); None → no credential: the server decides;
* `nats.tls_ca` → an SSL context that verifies the server with that CA (TLS is then used).

`operator_options(nats)` is the same for the operator's commands (`status`, `target`,
`kill`, `replay`, `audit`, ...): without `nats.credentials` they use the admin credential
that `setpoint up` generated in the data directory, when there is one, and its CA.

The seed is never put in an error, a log line or a repr: a bad one is reported as "not an
nkey user seed" with the reference it came from.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nkeys

from setpoint.bus.permissions import inbox_prefix
from setpoint.config import NatsConfig, resolve_secret
from setpoint.core.errors import ConfigError

SECURITY_DIR: Final = "security"
CREDS_DIR: Final = "creds"
ADMIN: Final = "admin"


def security_dir(data_dir: str | Path) -> Path:
    """Where `setpoint up` keeps identities, credentials, certificates and the server
    configuration: `<data_dir>/security`."""
    return Path(data_dir).resolve() / SECURITY_DIR


def seed_file(data_dir: str | Path, name: str) -> Path:
    """The credential file (the nkey seed, owner-only) of identity `name`."""
    return security_dir(data_dir) / CREDS_DIR / f"{name}.nk"


def dev_ca_file(data_dir: str | Path) -> Path:
    """The development CA certificate `setpoint up --tls` generates."""
    return security_dir(data_dir) / "tls" / "ca.pem"


@dataclass(frozen=True)
class Seed:
    """An nkey user seed and its public key. The seed is kept out of `repr`."""

    public_key: str
    _seed: str

    def __repr__(self) -> str:
        return f"Seed(public_key={self.public_key!r})"

    def reveal(self) -> str:
        return self._seed


def parse_seed(text: str, source: str) -> Seed:
    """The seed in `text`, checked; ConfigError naming `source` (never the text)."""
    value = text.strip()
    try:
        pair = nkeys.from_seed(bytearray(value.encode()))
        public = pair.public_key.decode()
    except Exception:
        raise ConfigError(f"{source}: not an nkey user seed") from None
    if not public.startswith("U"):
        raise ConfigError(f"{source}: not an nkey user seed (the key is not a user's)")
    return Seed(public, value)


def load_seed(reference: str) -> Seed:
    """Resolve an `env:`/`file:` reference to a checked seed."""
    secret = resolve_secret(reference)
    return parse_seed(secret.get_secret_value(), reference)


def tls_context(ca_file: str) -> ssl.SSLContext:
    """A client context that verifies the server with `ca_file`."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"nats.tls_ca: cannot load {ca_file}: {exc}") from None


def client_options(nats: NatsConfig) -> dict[str, Any]:
    """`nats.connect` options for this configuration (module docstring)."""
    return _options(nats.credentials, nats.tls_ca)


def operator_options(nats: NatsConfig) -> dict[str, Any]:
    """`client_options`, falling back to `setpoint up`'s admin credential and CA."""
    credentials, ca = nats.credentials, nats.tls_ca
    if credentials is None and seed_file(nats.data_dir, ADMIN).is_file():
        credentials = f"file:{seed_file(nats.data_dir, ADMIN)}"
    if ca is None and dev_ca_file(nats.data_dir).is_file():
        ca = str(dev_ca_file(nats.data_dir))
    return _options(credentials, ca)


def _options(credentials: str | None, ca: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if credentials is not None:
        seed = load_seed(credentials)
        options["nkeys_seed_str"] = seed.reveal()
        options["inbox_prefix"] = inbox_prefix(seed.public_key)
    if ca is not None:
        options["tls"] = tls_context(ca)
    return options


def broker_options(nats: NatsConfig) -> dict[str, Any]:
    """The same for a FastStream `NatsBroker`: `security` (nkey and TLS) and the inbox
    prefix; empty when there is neither credential nor CA."""
    options = client_options(nats)
    if not options:
        return {}
    from faststream.nats.security import NatsNKey, NatsSecurity

    context = options.get("tls")
    seed = options.get("nkeys_seed_str")
    security: NatsSecurity
    if seed is not None:
        security = NatsNKey.from_seed(seed, ssl_context=context, use_ssl=context is not None)
    else:
        security = NatsSecurity(ssl_context=context, use_ssl=True)
    found: dict[str, Any] = {"security": security}
    if "inbox_prefix" in options:
        found["inbox_prefix"] = options["inbox_prefix"]
    return found
