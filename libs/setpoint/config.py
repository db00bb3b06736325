"""Configuration: one TOML file, every key overridable by `SETPOINT_<SECTION>__<KEY>`.

The file is `--config PATH`, else `$SETPOINT_CONFIG`, else `./setpoint.toml`; with none of
them, the built-in demo configuration (simulated venue, account `demo`, the grid strategy).
Secrets are references (`env:NAME` or `file:PATH`), resolved only by the process that needs
them (the gateway) and never printed.
"""

from __future__ import annotations

import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from setpoint.core.errors import ConfigError
from setpoint.core.errors import SecretUnavailable as SecretUnavailable
from setpoint.core.numeric import Dec

DEFAULT_PATH = "setpoint.toml"
SIM_NAME_RULE = "letters, digits, '-' and '_'"
_SIM_NAME = re.compile(r"[A-Za-z0-9_-]+")
MAX_STARTUP_DELAY_S = 3600.0  # float-ok
MAX_LOOKBACK_S = 7 * 24 * 3600.0  # float-ok
MIN_PURGE_AFTER_S = 60.0  # float-ok


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NatsConfig(Section):
    """Where NATS is and how to reach it. `credentials`: this process's nkey seed, a
    reference (`env:NAME` or `file:PATH`) like every secret; None connects without any and
    lets the server decide. `tls_ca`: clients use TLS and verify the server with this CA.
    `tls`: `setpoint up` runs its server with TLS required (with `tls_cert`/`tls_key`,
    else a development CA and certificate it generates in its data directory).

    Several servers (a cluster): `url` may list them separated by commas, or `urls` lists
    them (then `url` is left out; it becomes the comma-joined list, so every reader of
    `url` sees all of them); clients connect to any and move to another when one goes."""

    url: str = "nats://127.0.0.1:4222"
    urls: tuple[str, ...] = ()
    embedded: bool = True
    data_dir: str = ".setpoint"
    credentials: str | None = None
    tls: bool = False
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _urls_into_url(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("urls"):
            return data
        joined = ",".join(str(url).strip() for url in data["urls"])
        if data.get("url") and split_servers(str(data["url"])) != split_servers(joined):
            raise ValueError("give the servers as url (comma-separated) or as urls, not both")
        return {**data, "url": joined}

    @field_validator("url")
    @classmethod
    def _url_list(cls, value: str) -> str:
        servers = split_servers(value)
        if not servers:
            raise ValueError("names no server")
        if len(set(servers)) != len(servers):
            raise ValueError("names a server twice")
        return ",".join(servers)

    @property
    def servers(self) -> tuple[str, ...]:
        """Every server the clients may connect to, in the configured order."""
        return split_servers(self.url)

    @field_validator("credentials")
    @classmethod
    def _credentials_are_a_reference(cls, value: str | None) -> str | None:
        return secret_reference(value, "seed")


def split_servers(text: str) -> tuple[str, ...]:
    """`"nats://a:4222, nats://b:4222"` → `("nats://a:4222", "nats://b:4222")`; an empty
    entry is refused (ValueError)."""
    servers = tuple(part.strip() for part in text.split(","))
    if any(not server for server in servers):
        raise ValueError(f"{text!r} has an empty entry in its comma-separated list")
    return servers


MAX_REPLICAS = 5
"""JetStream keeps at most five copies of a stream."""


class EventLogConfig(Section):
    """`replicas`: how many servers of a JetStream cluster keep the stream (1 on a single
    server; 3 in a cluster survives the loss of one). The stream is created with it; a
    stream that exists with another count is changed only by `setpoint log migrate`.
    `snapshots`: the differ, executor and gateway keep snapshots of their projections
    (object store `SETPOINT_SNAPSHOTS`) and restart from the newest that matches the log;
    one is written each time a projection has moved `snapshot_every` events past the last.
    """

    backend: Literal["jetstream", "eventstoredb", "memory"] = "jetstream"
    url: str | None = None
    stream: str = "SETPOINT"
    duplicate_window_s: int = 120
    replicas: int = 1
    snapshots: bool = True
    snapshot_every: int = 50_000

    @field_validator("snapshot_every")
    @classmethod
    def _snapshot_every(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1 (events between two snapshots)")
        return value

    @field_validator("replicas")
    @classmethod
    def _replica_count(cls, value: int) -> int:
        if not 1 <= value <= MAX_REPLICAS:
            raise ValueError(f"must be 1 to {MAX_REPLICAS} (3 in a three-server cluster)")
        return value


def secret_reference(value: str | None, what: str = "secret") -> str | None:
    """`value` when it is None or a reference (`env:NAME`, `file:PATH`); a ValueError
    (`never the <what>`) when it looks like the secret itself. A field validator's body."""
    if value is not None and not value.startswith(("env:", "file:")):
        raise ValueError(f"must be a reference, env:NAME or file:PATH, never the {what}")
    return value


def resolve_secret(ref: str) -> SecretStr:
    """Resolve `env:NAME` or `file:PATH` into a SecretStr."""
    scheme, _, name = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(name)
        if value is None:
            raise SecretUnavailable(f"environment variable {name} is not set")
        return SecretStr(value)
    if scheme == "file":
        try:
            return SecretStr(Path(name).expanduser().read_text().strip())
        except OSError as exc:
            raise SecretUnavailable(f"cannot read secret file {name}: {exc.strerror}") from None
    raise SecretUnavailable("a secret must be given as env:NAME or file:PATH")


class AccountConfig(Section):
    exchange: str = "binance"
    base_url: str | None = None
    api_key: str = "env:SETPOINT_DEMO_KEY"
    secret: str = "env:SETPOINT_DEMO_SECRET"
    # venues whose API keys come with a passphrase (OKX): a reference, as the two above
    passphrase: str | None = None
    zombie_policy: Literal["cancel", "adopt", "ignore"] = "ignore"
    zombie_scope: Literal["keys", "account"] = "keys"
    reconcile_interval_s: float = 30  # float-ok
    ioc_band_bps: int = 50
    max_orders_per_target: int = 10_000
    # risk limits (docs/semantics.md §3); None = no limit
    max_order_notional: Dec | None = None
    max_open_orders_per_key: int | None = None
    price_band_bps: int | None = None
    # exposure, order-rate, loss and margin limits (docs/risk.md); None = off
    max_position: Dec | None = None
    max_position_notional: Dec | None = None
    max_gross_exposure: Dec | None = None
    max_net_exposure: Dec | None = None
    max_orders_per_s: int | None = None
    max_orders_per_min: int | None = None
    max_loss: Dec | None = None
    loss_window_s: float | None = None  # float-ok
    loss_reset_at: AwareDatetime | None = None
    max_margin_ratio: Dec | None = None
    # in-flight and ghost resolution (docs/semantics.md §4)
    in_flight_timeout_s: float = 5  # float-ok
    not_found_retries: int = 3
    not_found_min_age_s: float = 10  # float-ok
    rate_limit_per_s: float = 20  # float-ok
    # the venue's own counts, by limit name, where this account is allowed other than the
    # venue's published default (docs/services.md, "Venue rate limits")
    # (a table in TOML; kept as sorted pairs so that the section stays hashable)
    venue_rate_limits: tuple[tuple[str, PositiveInt], ...] = ()
    # the gateway's venue calls (ccxt timeout) and market-data polling
    venue_timeout_s: float = 10  # float-ok
    ticker_interval_s: float = 1  # float-ok
    # reconciliation settings (docs/services.md, "Reconciliation settings")
    reconcile_startup_delay_s: float = 10  # float-ok
    in_flight_check_interval_s: float = 2  # float-ok
    open_order_lookback_s: float = 600  # float-ok
    purge_closed_orders_after_s: float = 3600  # float-ok

    @field_validator("venue_rate_limits", mode="before")
    @classmethod
    def _limit_table(cls, value: object) -> object:
        if isinstance(value, dict):
            return tuple(sorted(value.items()))
        if isinstance(value, tuple):  # already pairs (a copy of a section)
            return value
        raise ValueError("must be a table of limit name = count")

    @field_validator("reconcile_interval_s", "in_flight_check_interval_s")
    @classmethod
    def _positive_interval(cls, value: float) -> float:  # float-ok
        if not value > 0:
            raise ValueError(f"must be a number of seconds above 0, not {value:g}")
        return value

    @field_validator("reconcile_startup_delay_s")
    @classmethod
    def _delay(cls, value: float) -> float:  # float-ok
        if not 0 <= value <= MAX_STARTUP_DELAY_S:
            raise ValueError(
                f"must be between 0 and {MAX_STARTUP_DELAY_S:g} seconds, not {value:g}"
            )
        return value

    @field_validator("open_order_lookback_s")
    @classmethod
    def _lookback(cls, value: float) -> float:  # float-ok
        if not 0 < value <= MAX_LOOKBACK_S:
            raise ValueError(
                f"must be above 0 and at most {MAX_LOOKBACK_S:g} seconds (7 days, the longest "
                f"trades window Binance answers), not {value:g}"
            )
        return value

    @field_validator("purge_closed_orders_after_s")
    @classmethod
    def _purge(cls, value: float) -> float:  # float-ok
        if value != 0 and not value >= MIN_PURGE_AFTER_S:
            raise ValueError(
                f"must be 0 (never purge) or at least {MIN_PURGE_AFTER_S:g} seconds (a closed "
                f"order's last facts must still find it), not {value:g}"
            )
        return value

    # the futures wallet's state (MarginObserved) and the venue's dead-man switch
    account_state_interval_s: float = Field(default=10, gt=0)  # float-ok
    dead_man_switch: bool = False
    dead_man_countdown_s: float = Field(default=60, ge=1, le=3600)  # float-ok

    @field_validator("api_key", "secret", "passphrase")
    @classmethod
    def _is_reference(cls, value: str | None) -> str | None:
        return secret_reference(value)

    @field_validator(
        "max_position", "max_position_notional", "max_gross_exposure", "max_net_exposure",
        "max_orders_per_s", "max_orders_per_min", "max_loss", "loss_window_s",
    )  # fmt: skip
    @classmethod
    def _positive_limit(cls, value: Decimal | float | None) -> Decimal | float | None:  # float-ok
        if value is not None and value <= 0:
            raise ValueError(f"a limit must be above 0 (leave it out for no limit), not {value}")
        return value

    @field_validator("max_margin_ratio")
    @classmethod
    def _ratio(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and not 0 < value <= 1:
            raise ValueError(f"a margin ratio is above 0 and at most 1, not {value}")
        return value

    @model_validator(mode="after")
    def _limits_agree(self) -> AccountConfig:
        per_s, per_min = self.max_orders_per_s, self.max_orders_per_min
        if per_s is not None and per_min is not None and per_min < per_s:
            raise ValueError(f"max_orders_per_min ({per_min}) is below max_orders_per_s ({per_s})")
        if self.loss_window_s is not None and self.loss_reset_at is not None:
            raise ValueError("give loss_window_s or loss_reset_at, not both")
        if self.max_loss is None and (self.loss_window_s or self.loss_reset_at) is not None:
            raise ValueError("loss_window_s / loss_reset_at need max_loss")
        return self


class SimMarketConfig(Section):
    """One simulated market: `BTC/USDT` is spot, `BTC/USDT:USDT` a USD-M perpetual."""

    symbol: str = Field(pattern=r"^[A-Z0-9]+/[A-Z0-9]+(:[A-Z0-9]+)?$")
    tick: Dec = Decimal("0.01")
    step: Dec
    min_notional: Dec = Decimal("5")


def _default_sim_markets() -> list[SimMarketConfig]:
    return [
        SimMarketConfig(symbol="BTC/USDT", step=Decimal("0.00001")),
        SimMarketConfig(symbol="ETH/USDT", step=Decimal("0.0001")),
        SimMarketConfig(symbol="BTC/USDT:USDT", step=Decimal("0.00001")),
    ]


class SimConfig(Section):
    host: str = "127.0.0.1"
    port: int = 8765
    # the venue whose API the simulator speaks (docs/simulator.md, "Dialects")
    dialect: Literal["binance", "okx"] = "binance"
    api_key: str = "demo-key"
    api_secret: str = "demo-secret"
    api_passphrase: str = "demo-passphrase"  # OKX dialect only
    # OKX dialect: requests per `okx_rate_window_ms` per endpoint ("trade/order", ...) and
    # instrument; an endpoint not listed is not limited (the default: none is)
    okx_rate_limits: dict[str, int] = Field(default_factory=dict)
    okx_rate_window_ms: int = Field(default=2000, gt=0)
    balances: dict[str, Dec] = Field(
        default_factory=lambda: {
            "USDT": Decimal("100000"),
            "BTC": Decimal("10"),
            "ETH": Decimal("100"),
        }
    )
    futures_balances: dict[str, Dec] = Field(default_factory=lambda: {"USDT": Decimal("100000")})
    prices: dict[str, Dec] = Field(
        default_factory=lambda: {
            "BTC/USDT": Decimal("60000"),
            "ETH/USDT": Decimal("3000"),
            "BTC/USDT:USDT": Decimal("60000"),
        }
    )
    random_walk_seed: int | None = None
    # the engine is saved here after every change and read back at start (None: the
    # state is lost on restart; docs/simulator.md)
    state_file: Path | None = None
    markets: list[SimMarketConfig] = Field(default_factory=_default_sim_markets)


class TelemetryConfig(Section):
    exporter: Literal["console", "otlp", "none"] = "none"
    otlp_endpoint: str = "http://127.0.0.1:4318"
    service_namespace: str = "setpoint"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    """Prometheus endpoint of the process (`/metrics`); 0 = none. `setpoint up` gives each
    service its own (docs/operations.md, "Metrics")."""
    metrics_host: str = "127.0.0.1"


class StrategyConfig(Section):
    kind: Literal["grid", "carry"] = "grid"
    account: str = "demo"
    symbol: str = "BTC/USDT"
    params: dict[str, Any] = Field(default_factory=dict)

    def perp_symbol(self) -> str:
        """The perpetual a `carry` hedges with: `params.perp`, else the USD-M perpetual of
        `symbol` (`BTC/USDT` → `BTC/USDT:USDT`)."""
        perp = self.params.get("perp")
        if isinstance(perp, str):
            return perp
        quote = self.symbol.split("/")[1]
        return f"{self.symbol}:{quote}"

    def traded_symbols(self) -> tuple[str, ...]:
        """The symbols of the keys this strategy trades, for services that must know them
        without the strategy's code (the gateway's market data): a grid's `symbol`, a
        carry's `symbol` and its perpetual."""
        if self.kind == "carry":
            return (self.symbol, self.perp_symbol())
        return (self.symbol,)


class ConsoleConfig(Section):
    """The web console (`setpoint run console`): read-only, on loopback by default. Bound
    to any other address it refuses to start without `token`, a secret reference
    (`env:NAME` or `file:PATH`) the browser must present."""

    host: str = "127.0.0.1"
    port: int = Field(default=8780, ge=0, le=65535)
    token: str | None = None

    @field_validator("token")
    @classmethod
    def _is_reference(cls, value: str | None) -> str | None:
        return secret_reference(value)


class LeasesConfig(Section):
    """Several instances of a service (docs/architecture.md, "Running on several
    machines"). `enabled`: differ and executor instances share the keys by partition and
    gateways of one account stand by for the active one, through leases in JetStream's
    key-value store; off, every instance works on everything (one of each, as before).
    `partitions`: how many partitions the keys hash to (fixed for a deployment: changing
    it moves keys). `ttl_s`: a lease not renewed for this long lapses (renewed every third
    of it), so a dead instance's partitions move within about `ttl_s` plus one renewal."""

    enabled: bool = False
    partitions: int = Field(default=16, ge=1, le=1024)
    ttl_s: float = Field(default=3.0, ge=1, le=300)  # float-ok


class Settings(BaseSettings):
    """The whole configuration of one Setpoint deployment."""

    model_config = SettingsConfigDict(
        env_prefix="SETPOINT_",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
    )

    nats: NatsConfig = NatsConfig()
    eventlog: EventLogConfig = EventLogConfig()
    accounts: dict[str, AccountConfig] = Field(default_factory=dict)
    sim: SimConfig = SimConfig()
    sims: dict[str, SimConfig] = Field(default_factory=dict)
    """More simulators, by name (`[sims.<name>]`, each a whole `[sim]` section of its own:
    port, dialect, balances...), for a system with several simulated venues
    (docs/simulator.md, "Several simulators"); `setpoint run sim --sim NAME` runs one."""
    telemetry: TelemetryConfig = TelemetryConfig()
    strategies: dict[str, StrategyConfig] = Field(default_factory=dict)
    console: ConsoleConfig = ConsoleConfig()
    leases: LeasesConfig = LeasesConfig()
    demo: bool = False

    @field_validator("sims")
    @classmethod
    def _sim_names(cls, value: dict[str, SimConfig]) -> dict[str, SimConfig]:
        for name in value:
            if not _SIM_NAME.fullmatch(name):
                raise ValueError(f"a simulator's name is {SIM_NAME_RULE}, not {name!r}")
        return value

    @model_validator(mode="after")
    def _sim_ports_distinct(self) -> Settings:
        seen: dict[int, str] = {self.sim.port: "sim"}
        for name, sim in self.sims.items():
            other = seen.setdefault(sim.port, f"sims.{name}")
            if other != f"sims.{name}":
                raise ValueError(f"sims.{name}.port {sim.port} is already {other}'s port")
        return self

    def sim_named(self, name: str | None) -> SimConfig:
        """`[sims.<name>]`, or `[sim]` for None (ConfigError naming the known ones)."""
        if name is None:
            return self.sim
        if name not in self.sims:
            known = ", ".join(sorted(self.sims)) or "none"
            raise ConfigError(f"no simulator {name!r} in [sims] (configured: {known})")
        return self.sims[name]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _CONFIG_PATH.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        defaults = _DEFAULTS.get("data")
        if defaults is not None:  # the built-in demo: lowest priority, so env still overrides
            sources.append(InitSettingsSource(settings_cls, init_kwargs=defaults))
        return tuple(sources)


_CONFIG_PATH: dict[str, Path | None] = {}
_DEFAULTS: dict[str, dict[str, Any]] = {}


def demo_settings_data() -> dict[str, Any]:
    """The built-in demo: two simulated venues, account `demo` on the Binance dialect
    (port 8765, a grid on BTC/USDT) and account `demo-okx` on the OKX dialect (port 8766,
    `[sims.okx]`; no strategy: targets by hand)."""
    return {
        "demo": True,
        "accounts": {
            "demo": {"exchange": "binance", "base_url": "http://127.0.0.1:8765"},
            "demo-okx": {
                "exchange": "okx",
                "base_url": "http://127.0.0.1:8766",
                "passphrase": "env:SETPOINT_DEMO_PASSPHRASE",
            },
        },
        "strategies": {"grid-1": {"kind": "grid", "account": "demo", "symbol": "BTC/USDT"}},
        "sim": {"state_file": ".setpoint/sim-state"},
        "sims": {"okx": {"port": 8766, "dialect": "okx", "state_file": ".setpoint/sim-okx-state"}},
    }


def config_path(explicit: str | None = None) -> Path | None:
    """The config file in force, or None when the built-in demo applies."""
    candidate = explicit or os.environ.get("SETPOINT_CONFIG")
    if candidate:
        path = Path(candidate)
        if not path.is_file():
            raise FileNotFoundError(f"config file {candidate} does not exist")
        return path
    default = Path(DEFAULT_PATH)
    return default if default.is_file() else None


def load_settings(explicit: str | None = None) -> Settings:
    """Load the configuration in force (see module docstring). A value that cannot be
    used raises `ConfigError` with one line naming each field at fault and its problem
    (`config_problems`), never the value of a secret; a file that is not TOML too."""
    path = config_path(explicit)
    _CONFIG_PATH["path"] = path
    if path is None:
        _DEFAULTS["data"] = demo_settings_data()
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(config_problems(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    finally:
        _CONFIG_PATH.pop("path", None)
        _DEFAULTS.pop("data", None)


def config_problems(exc: ValidationError) -> str:
    """One line: `field.path: problem` for each error of `exc`, joined by `; ` (pydantic's
    own wording, without its "Value error, " prefix; the offending input is left out, so a
    secret written where a reference belongs is never repeated)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or "configuration"
        problem = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{field}: {problem}")
    return "; ".join(parts)
