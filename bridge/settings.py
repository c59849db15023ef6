"""Typed settings: defaults here, a TOML file over them, ``ARS_*`` environment variables over both.

Nested settings take one underscore after the prefix: ``ARS_MQTT_URL`` sets ``mqtt.url``,
``ARS_JOURNAL_PATH`` sets ``journal.path``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bridge.event.votes import Policy

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "arsbridge.toml"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the setting."""


class BrokerSettings(BaseModel):
    """The embedded amqtt broker, used when ``mqtt.url`` is ``embedded``."""

    host: str = "127.0.0.1"
    # Not 1883, so that the embedded broker never collides with a system Mosquitto.
    port: int = Field(1884, ge=1, le=65535)
    max_connections: int = Field(200, ge=1)
    # "auto": a Mosquitto process the service manages when the binary is installed, amqtt
    # inside the service otherwise; "mosquitto" or "amqtt" to choose one.
    server: Literal["auto", "mosquitto", "amqtt"] = "auto"
    mosquitto: str = "mosquitto"  # the binary: a name looked up on PATH and /usr/sbin, or a path
    # The password of each role's MQTT user, made on first start (default: beside the journal).
    credentials: Path | None = None


class MqttSettings(BaseModel):
    """The MQTT link: broker URL, topic base, batching and reconnection."""

    url: str = "embedded"
    base: str = "ars"
    username: str | None = None
    password: str | None = None
    # For an mqtts:// broker: the CA that signed its certificate (default: the system's),
    # and this client's certificate and key when the broker asks for one.
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    keepalive_s: int = Field(30, ge=5)
    connect_timeout_s: float = Field(5.0, gt=0)
    publish_timeout_s: float = Field(10.0, gt=0)
    batch_interval_ms: int = Field(50, ge=1, le=5000)
    batch_max: int = Field(500, ge=1, le=10000)
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    handsets_interval_ms: int = Field(1000, ge=50, le=60000)  # handset table refresh
    # A beat through the broker this often; when heartbeat_misses in a row do not come back
    # (a session taken over, a broker that stopped delivering) the link is reconnected.
    heartbeat_s: float = Field(5.0, ge=0.05, le=300)
    heartbeat_misses: int = Field(3, ge=1, le=100)

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if v != "embedded" and not v.startswith(("mqtt://", "tcp://", "mqtts://")):
            raise ValueError("must be 'embedded' or a URL like mqtt://host:1883")
        return v

    @field_validator("base")
    @classmethod
    def _check_base(cls, v: str) -> str:
        if not v or any(c in v for c in "+#") or v.startswith("/") or v.endswith("/"):
            raise ValueError("must be a topic prefix without wildcards or outer slashes")
        return v


class BusSettings(BaseModel):
    """What the service believes from the MQTT bus (see docs/operations.md, "The bus")."""

    # Bridges whose vote batches count; empty: this service's own bridge_id only.
    bridges: list[str] = []
    # A vote batch larger than this is dropped (batch_max presses take about 100 bytes each).
    max_message_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    # Presses per vote batch; a bridge sends at most [mqtt] batch_max.
    max_batch_records: int = Field(10000, ge=1)
    # How far a batch's record ids may run ahead of the highest one its bridge sent: a
    # forged id far ahead would hide every real press below it.
    max_record_jump: int = Field(100_000, ge=1)
    # How far a round state's revision may run ahead of the one held (a round changes a few
    # dozen times; a forged revision far ahead would shadow every real change).
    max_revision_jump: int = Field(10_000, ge=1)
    # Messages this process remembers having published, to tell its own echoes from messages
    # someone else wrote in its name (about 30 bytes each).
    echo_memory: int = Field(10_000, ge=100, le=1_000_000)


class JournalSettings(BaseModel):
    """The durable press journal (SQLite in WAL mode, group commit)."""

    path: Path = Path("var/journal.sqlite3")
    commit_interval_ms: int = Field(20, ge=1, le=2000)
    commit_max: int = Field(2000, ge=1)


class DedupSettings(BaseModel):
    """Windows that tell a repeat or an echo from a genuine new press."""

    # A press of the handset's previous answer from another receiver this soon after the
    # change is an echo that arrived late over that receiver's link.
    echo_window_s: float = Field(2.0, ge=0)


class RoundSettings(BaseModel):
    """Defaults for rounds that do not set their own."""

    grace_s: float = Field(2.0, ge=0, le=60)
    late_window_s: float = Field(60.0, ge=0)
    policy: Policy = Policy.LAST
    tally_interval_ms: int = Field(100, ge=10, le=10000)
    # After a round's grace period, results wait this long for vote batches still in flight.
    settle_ms: int = Field(500, ge=0, le=60000)


class EventSettings(BaseModel):
    """The event: its agenda and roster files (loaded once; the API edits them after)."""

    agenda: Path | None = None  # e.g. config/agendas/vestegn-summit.toml
    roster: Path | None = None  # CSV: id,name,segment,table,seat,organisation,handset
    # Segments with fewer voters than this are not split out in results (privacy).
    min_segment: int = Field(5, ge=1, le=1000)


class ApiSettings(BaseModel):
    """The HTTP API and web pages."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # When set, changes and personal data need it (see api/auth.py); reading rounds does not.
    token: str | None = Field(None, min_length=8)
    # Request bodies, read as they arrive and refused with 413 past these sizes.
    max_body_bytes: int = Field(65_536, ge=1024)  # any request not named below
    max_roster_bytes: int = Field(2_000_000, ge=1024)  # PUT /participants (CSV)
    max_agenda_bytes: int = Field(262_144, ge=1024)  # PUT /agenda and its themes
    max_themes: int = Field(100, ge=1, le=10_000)  # an afternoon has eight
    # Connections: a request's headers must be complete this soon after the connection
    # opened or the last response ended (half-open requests are cut), an idle keep-alive
    # connection is closed after keepalive_s, and no more than max_connections are open.
    header_timeout_s: float = Field(10.0, gt=0, le=300)
    keepalive_s: float = Field(5.0, gt=0, le=300)
    max_connections: int = Field(500, ge=10)
    # Live streams (SSE and WebSocket): at most this many clients; one that has not taken a
    # message for stream_send_timeout_s is dropped instead of being buffered for.
    max_stream_clients: int = Field(200, ge=1)
    stream_send_timeout_s: float = Field(5.0, gt=0, le=300)


class ReceiverSettings(BaseModel):
    """One receiver: its driver family and where to find it."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    driver: str
    url: str = ""
    baudrate: int | None = None
    channel: str | None = None
    # A required receiver must answer when the service starts, so that a wrong device path
    # stops the service before the event instead of during it. Once running, any receiver
    # that goes away is retried until it comes back.
    required: bool = True


class SupervisorSettings(BaseModel):
    """Retry policy for receivers that disappear."""

    backoff_min_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(15.0, gt=0)


class Settings(BaseSettings):
    """Everything the service reads at start."""

    model_config = SettingsConfigDict(
        env_prefix="ARS_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
    )

    bridge_id: str = Field("bridge1", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    mqtt: MqttSettings = MqttSettings()
    broker: BrokerSettings = BrokerSettings()
    bus: BusSettings = BusSettings()
    journal: JournalSettings = JournalSettings()
    dedup: DedupSettings = DedupSettings()
    rounds: RoundSettings = RoundSettings()
    event: EventSettings = EventSettings()
    api: ApiSettings = ApiSettings()
    supervisor: SupervisorSettings = SupervisorSettings()
    receivers: list[ReceiverSettings] = []
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = settings_cls.model_config.get("toml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file))
        return tuple(sources)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from ``path`` (default: the shipped config) plus the environment.

    Raises :class:`ConfigError` with the file and the setting named.
    """
    file = path if path is not None else DEFAULT_CONFIG
    if not file.is_file():
        raise ConfigError(f"config file {file} does not exist")
    try:
        with file.open("rb") as fh:
            tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=file)

    try:
        return Settings.model_validate(_FileSettings(**overrides).model_dump())
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"config file {file} (or ARS_* environment): {problems}") from None
