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


class MqttSettings(BaseModel):
    """The MQTT link: broker URL, topic base, batching and reconnection."""

    url: str = "embedded"
    base: str = "ars"
    username: str | None = None
    password: str | None = None
    keepalive_s: int = Field(30, ge=5)
    connect_timeout_s: float = Field(5.0, gt=0)
    publish_timeout_s: float = Field(10.0, gt=0)
    # Presses in one vote batch at most; a batch goes out as soon as the journal commits, so
    # this bounds a message's size under load (500 presses is about 40 kB), not a wait.
    batch_max: int = Field(500, ge=1, le=10000)
    # In a process that also runs the tally, which takes each record at commit, vote batches
    # serve other processes only: they wait this long to group commits, which at a steady
    # 500 presses/s saves one MQTT round trip per press. A bridge on its own sends at once.
    batch_linger_ms: int = Field(20, ge=0, le=1000)
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    # Own messages remembered per topic until the broker echoes them back (so that handlers
    # which have them already skip them). Only a broker that drops deliveries leaves any
    # behind; past this many the oldest are forgotten, and their echo is decoded after all.
    echoes_max: int = Field(1000, ge=1, le=100_000)
    # Handsets heard since the last time go out on .../handsets/changes this often.
    handsets_interval_ms: int = Field(1000, ge=50, le=60000)
    # The whole table, retained on .../handsets for subscribers that join later, at most this
    # often: with 50,000 handsets it is 4 MB, too much to send every second.
    handsets_full_interval_ms: int = Field(60_000, ge=1000, le=3_600_000)

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


class JournalSettings(BaseModel):
    """The durable press journal (SQLite in WAL mode, group commit)."""

    path: Path = Path("var/journal.sqlite3")
    # Presses in one group commit at most; under load one fsync covers this many.
    commit_max: int = Field(2000, ge=1)
    # How often a write that failed (a full disk) is tried again; presses wait in memory.
    retry_ms: int = Field(500, ge=10, le=60_000)
    # Free space on the journal's file system below which /health warns (0: never).
    min_free_mb: int = Field(100, ge=0)


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
    # The first change after a quiet spell is published at once; while changes keep coming,
    # snapshots follow at most this often. 20 ms keeps a press's wait for its snapshot under
    # what an audience can see, and caps the work at 50 snapshots a second per round.
    tally_interval_ms: int = Field(20, ge=1, le=10000)
    # After a round's grace period, results wait this long for vote batches still in flight
    # from other bridges (a bridge in the tally's process hands its records over at commit).
    # Batches leave as soon as the journal commits, so a few milliseconds usually suffice;
    # 200 ms covers a loaded host, and a batch later still republishes corrected results.
    settle_ms: int = Field(200, ge=0, le=60000)


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
