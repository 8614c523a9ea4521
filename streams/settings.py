"""The one settings object. Read once at the entry point (``riskmon ...``) and passed down.

Every field can be set from the environment with the ``RISKMON_`` prefix, e.g.
``RISKMON_KAFKA_BOOTSTRAP=kafka-1:9092,kafka-2:9092`` or ``RISKMON_PG_DSN=postgresql://...``.
Nothing else in riskmon reads the environment.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from indices.params import StateLimits
from streams.errors import RiskmonError


class Topics(BaseModel):
    """Kafka topic names. Change them with e.g. ``RISKMON_TOPICS__SCORES=city.scores``."""

    model_config = ConfigDict(frozen=True)

    incidents: str = "riskmon.incidents"
    readings: str = "riskmon.readings"
    safety: str = "riskmon.safety"
    complaints: str = "riskmon.complaints"
    complaints_located: str = "riskmon.complaints-located"
    identity: str = "riskmon.identity"
    located: str = "riskmon.located"
    scores: str = "riskmon.scores"
    deadletter: str = "riskmon.deadletter"
    alerts: str = "riskmon.alerts"
    alert_acks: str = "riskmon.alert-acks"
    alert_input: str = "riskmon.alert-input"
    ack_results: str = "riskmon.alert-ack-results"
    cap: str = "riskmon.cap"
    cap_out: str = "riskmon.cap-out"

    def inputs(self) -> tuple[str, str, str]:
        return (self.incidents, self.readings, self.safety)

    def all(self) -> tuple[str, ...]:
        return (
            self.incidents,
            self.readings,
            self.safety,
            self.complaints,
            self.complaints_located,
            self.identity,
            self.located,
            self.scores,
            self.deadletter,
            self.alerts,
            self.alert_acks,
            self.alert_input,
            self.ack_results,
            self.cap,
            self.cap_out,
        )

    def of_gateway(self) -> tuple[str, ...]:
        """The topics the gateway reads or writes (all it creates: never a checkpointed one)."""
        return (self.scores, self.alerts, self.alert_acks, self.ack_results, self.cap_out)

    def single_partition(self) -> tuple[str, ...]:
        """Topics of one partition: the alert stage's, so one agent sees the whole city, and
        CAP's, so one ledger sees every Alert, Update and Cancel whatever key a sender chose
        (CAP traffic is a few messages a minute at most), and public warnings out, so a consumer
        reads each chain in order."""
        return (self.alert_input, self.alert_acks, self.cap, self.cap_out)


class SettingMissing(RiskmonError, ValueError):
    """A command needs a setting that is not configured."""

    retriable = False


class Settings(BaseSettings):
    """riskmon configuration; defaults suit the embedded demo on one machine."""

    model_config = SettingsConfigDict(
        env_prefix="RISKMON_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    # --- Kafka -------------------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None, description="host:port[,host:port]; unset = start the embedded Tansu broker"
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    topics: Topics = Topics()
    partitions: int = Field(
        default=4, ge=1, description="partitions of every topic riskmon creates"
    )
    replication_factor: int = Field(default=1, ge=1)
    # The embedded broker answers fetches only after the wait elapses; keep it short (see docs/).
    fetch_max_wait_ms: int = Field(default=10, ge=0, le=5000)
    session_timeout_s: float = Field(default=10.0, gt=0)
    producer_linger_ms: int = Field(
        default=2, ge=0, description="producer batching wait; 0 sends one request per message"
    )

    # --- PostgreSQL ----------------------------------------------------------------------------
    pg_dsn: str | None = Field(
        default=None, description="postgresql:// DSN; unset = start an embedded PostgreSQL"
    )

    # --- retention (applied by the sink every retention_interval_s, or `riskmon db retention`) ---
    retention_events_days: float = Field(
        default=365, gt=0, description="raw validated events; replay needs them"
    )
    retention_raw_history_days: float = Field(
        default=30,
        gt=0,
        description="full score updates and per-update points; older points "
        "are downsampled to retention_rollup_step_s",
    )
    retention_rollup_step_s: int = Field(default=300, ge=1)
    retention_history_days: float = Field(
        default=730, gt=0, description="downsampled history, resolved alerts"
    )
    retention_dead_letters_days: float = Field(default=90, gt=0)
    retention_interval_s: float = Field(default=3600, gt=0)

    city: Path | None = Field(
        default=None,
        description="the city: a folder (districts.geojson, population.csv, optional city.toml) "
        "or a city.toml; unset = approximate Gimpo, synthesized from the facts riskmon keeps",
    )
    city_config: Path | None = Field(
        default=None, description="deprecated: the old name of RISKMON_CITY (used when unset)"
    )

    # --- worker --------------------------------------------------------------------------------
    app_id: str = Field(default="riskmon", description="Kafka consumer group of the worker")
    batch_max: int = Field(default=1000, ge=1, description="most records an agent takes at once")
    batch_within_s: float = Field(
        default=0.02,
        gt=0,
        description="longest a batch keeps filling while records keep arriving (a batch is "
        "returned as soon as no record is waiting)",
    )
    handoff: bool = Field(
        default=True,
        description="once the broker confirmed a record on riskmon.identity, riskmon.located or "
        "the alert input, let the next stage apply it in this process when it holds that "
        "partition's state at that offset, instead of reading it back (the topics stay the "
        "record of truth; see streams/worker/handoff.py). Off: every stage reads its topic",
    )
    handoff_recheck_s: float = Field(
        default=1.0,
        gt=0,
        description="how often the worker reads again the partitions it stopped reading because "
        "the hand-off brought every record of them: the longest a record written there by "
        "anyone else (another worker, a retried send) waits",
    )
    produce_batches: bool = Field(
        default=True,
        description="send the worker's outputs as one record batch per partition through "
        "aiokafka (one future per batch) instead of Faust's send per record "
        "(streams/worker/batch_send.py); off: Faust's per-record send",
    )
    tick_interval_s: float = Field(default=5.0, gt=0, description="decay re-evaluation period")
    tick_min_change: float = Field(default=0.001, ge=0, description="publish a tick if moved more")
    checkpoint_interval_s: float = Field(default=1.0, gt=0)
    commit_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="how often Faust commits the worker group's read offsets (lag and where a "
        "restarted worker starts reading inputs; recovery of scoring state uses checkpoints)",
    )
    state_max_incidents: int = Field(
        default=StateLimits.max_incidents,
        ge=1,
        description="incident keys one district's state may hold",
    )
    state_max_sensors: int = Field(
        default=StateLimits.max_sensors, ge=1, description="sensors one district's state may hold"
    )
    state_max_facts: int = Field(
        default=StateLimits.max_facts,
        ge=1,
        description="safety-fact keys one district's state may hold",
    )
    state_max_identities: int = Field(
        default=2_000_000,
        ge=1,
        description="(source, id) identities one riskmon.identity partition may remember",
    )
    checkpoint_mismatch: Literal["refuse", "rebuild"] = Field(
        default="refuse",
        description="a checkpoint saved under another model or for other districts: refuse "
        "to start (run `riskmon db rebuild-checkpoints`), or rebuild the partition from the "
        "beginning of the Kafka log",
    )
    max_future_s: float = Field(
        default=300.0,
        ge=0,
        description="how far an input's own time may lie ahead of when it was read; "
        "later ones are dead-lettered 'future'",
    )
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(
        default=0,
        ge=0,
        description="Prometheus port of a worker, sink or gateway process (a listener of its "
        "own: scrape it without credentials on a private network); 0 = none",
    )
    data_dir: Path = Path(".riskmon")

    # --- gateway -------------------------------------------------------------------------------
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8080, ge=0)
    base_map_url: str | None = Field(
        default=None,
        description="raster base map under the districts: an XYZ template "
        "(https://host/{z}/{x}/{y}.png) or a WMS endpoint; unset = none (works offline)",
    )
    base_map_kind: Literal["xyz", "wms"] = "xyz"
    base_map_attribution: str = Field(default="", max_length=500)
    base_map_layers: str | None = Field(default=None, description="WMS layers")
    ack_wait_s: float = Field(
        default=600.0,
        gt=0,
        description="how long a gateway waits for the worker's decision on an acknowledgement "
        "before telling its client timed_out",
    )

    # --- access control (dashboard_ws.security, enforced by the gateway; docs/security.md) -----
    session_idle_s: float = Field(
        default=1800.0, gt=0, description="a browser session ends this long after its last use"
    )
    session_max_s: float = Field(
        default=43200.0, gt=0, description="and at the latest this long after login (a shift)"
    )
    token_ttl_s: float = Field(
        default=900.0, gt=0, le=86400, description="lifetime of a bearer token for programs"
    )
    auth_secret: SecretStr | None = Field(
        default=None,
        description="key that signs bearer tokens (at least 32 bytes, e.g. `openssl rand -hex "
        "32`); the same on every gateway behind one address; unset = a random key per gateway "
        "process (its tokens hold only there, and not across a restart)",
    )
    allowed_hosts: tuple[str, ...] = Field(
        default=(),
        description="Host names the gateway answers to (JSON list); unset = its listen address "
        "(and the loopback names when that is loopback)",
    )
    allowed_origins: tuple[str, ...] = Field(
        default=(),
        description="other origins whose pages may use the gateway (JSON list of "
        "scheme://host[:port]); its own origin is always allowed",
    )
    login_failures_per_account: int = Field(
        default=10, ge=1, description="failed logins of one account within login_window_s"
    )
    login_failures_per_address: int = Field(
        default=20, ge=1, description="failed logins from one address within login_window_s"
    )
    login_window_s: float = Field(default=900.0, gt=0)
    login_tracked_keys: int = Field(
        default=10_000, ge=1, description="accounts and addresses remembered each (memory bound)"
    )

    login_concurrency: int = Field(
        default=2, ge=1, description="password verifications at once (each holds 64 MiB)"
    )
    session_check_s: float = Field(
        default=30.0,
        gt=0,
        description="how often the gateway re-checks the sessions of open websockets (logout, "
        "expiry, disabled user, role change close them)",
    )
    tls_cert: Path | None = Field(
        default=None, description="PEM certificate chain: the gateway serves https/wss itself"
    )
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert")
    behind_tls_proxy: bool = Field(
        default=False,
        description="browsers reach the gateway over https through a TLS-terminating proxy: "
        "origins are https, the cookie Secure and __Host-, HSTS sent (docs/security.md)",
    )

    # --- gateway limits -----------------------------------------------------------------------
    max_connections: int = Field(
        default=5000, ge=1, description="open websockets per gateway; more get 503"
    )
    max_connections_per_user: int = Field(
        default=20, ge=1, description="open websockets per user; more get 429"
    )
    ws_message_rate: float = Field(
        default=5.0, gt=0, description="messages per second a client may send (sustained)"
    )
    ws_message_burst: int = Field(
        default=20, ge=1, description="messages a client may send at once; over it: close 4008"
    )
    ws_queue_max: int = Field(
        default=256,
        ge=8,
        description="answers waiting for one slow client (scores coalesce per district); over "
        "it: close 4013",
    )
    ws_coalesce_ms: int = Field(
        default=100,
        ge=10,
        le=5000,
        description="at most one scores message per client this often: it carries the newest "
        "state of every district that changed since the client's previous one",
    )
    ws_compression: bool = Field(
        default=True,
        description="offer permessage-deflate to clients (browsers take it), without context "
        "takeover either way: each message is compressed once for every client that takes it "
        "and no zlib state is kept per connection",
    )
    ws_send_timeout_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="a client that has not taken one message within this long is too slow: "
        "closed with 4014 (the page reconnects and takes a fresh snapshot)",
    )
    cap_sender: str = Field(
        default="riskmon",
        min_length=1,
        max_length=128,
        pattern=r"^[^\s,<&]+$",
        description="the CAP <sender> of the public warnings operators approve (e.g. "
        "safety@gimpo.go.kr): no spaces, commas, < or &",
    )
    cap_sender_name: str = Field(
        default="riskmon",
        min_length=1,
        max_length=200,
        description="the CAP <senderName>, e.g. 김포시 스마트도시 통합안전플랫폼",
    )
    cap_draft_after_s: float = Field(
        default=600.0,
        ge=0,
        le=86_400,
        description="an alert may become a public warning once it has fired this long",
    )
    ws_heartbeat_s: float = Field(
        default=10.0,
        gt=0,
        le=25,
        description="a client that had no message for this long gets a heartbeat (the page "
        "calls itself stale after 30 s without any)",
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _deprecated_city_config(cls, data: Any) -> Any:
        """RISKMON_CITY_CONFIG (the old name) still names the city when RISKMON_CITY is unset."""
        if isinstance(data, dict) and data.get("city") is None and data.get("city_config"):
            return {**data, "city": data["city_config"]}
        return data

    def kafka_client_options(self) -> dict[str, Any]:
        """Security options in aiokafka's keyword names (used by every aiokafka client we make)."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = ssl.create_default_context(
                cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
            )
        if self.kafka_security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        return options

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("set both RISKMON_TLS_CERT and RISKMON_TLS_KEY, or neither")
        return self

    def require_bootstrap(self) -> str:
        if not self.kafka_bootstrap:
            raise SettingMissing(
                "RISKMON_KAFKA_BOOTSTRAP is not set: give host:port of a Kafka broker "
                "(riskmon demo starts its own)"
            )
        return self.kafka_bootstrap

    def require_pg_dsn(self) -> str:
        if not self.pg_dsn:
            raise SettingMissing(
                "RISKMON_PG_DSN is not set: give a postgresql:// DSN (riskmon demo starts its own)"
            )
        return self.pg_dsn
