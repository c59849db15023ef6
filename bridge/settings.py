"""Typed settings: defaults here, a TOML file over them, ``ARS_*`` environment variables over both.

Nested settings take one underscore after the prefix: ``ARS_MQTT_URL`` sets ``mqtt.url``,
``ARS_JOURNAL_PATH`` sets ``journal.path``.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bridge.event.language import Language
from bridge.event.votes import Policy, Unpaired

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "arsbridge.toml"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the setting."""


class Section(BaseModel):
    """A table of the config file: a key it does not know is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid")


class BrokerSettings(Section):
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


class MqttSettings(Section):
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
    # The handset table's changes go out at most this often (a technician sees a handset
    # pressed within a second; at 50,000 handsets a change message is ~100 B per handset heard).
    handsets_interval_ms: int = Field(1000, ge=50, le=60000)
    # The whole table (retained, for readers that start late) at most this often while it
    # changes: ~5 MB at 50,000 handsets, which each second would cost more than the presses.
    handsets_whole_interval_ms: int = Field(30000, ge=50, le=600000)
    # Records the tally has not acknowledged as durable are sent again after this long
    # without progress, then at doubling intervals up to resend_max_s.
    resend_after_s: float = Field(5.0, gt=0, le=600)
    # A bridge without the api role waits this long at start for the broker's retained
    # current round before it reads its receivers.
    state_wait_s: float = Field(3.0, ge=0, le=60)
    resend_max_s: float = Field(60.0, gt=0, le=3600)
    # A beat through the broker this often; when heartbeat_misses in a row do not come back
    # (a session taken over, a broker that stopped delivering) the link is reconnected.
    heartbeat_s: float = Field(5.0, ge=0.05, le=300)
    heartbeat_misses: int = Field(3, ge=1, le=100)
    # A subscription the broker refuses (an ACL, a NATS cluster short of a node) is asked
    # for again on the same connection after resubscribe_min_s, at doubling intervals up to
    # resubscribe_max_s; a connection still lacking one after resubscribe_give_up_s is
    # dropped for the next node.
    resubscribe_min_s: float = Field(0.5, gt=0, le=60)
    resubscribe_max_s: float = Field(5.0, gt=0, le=600)
    resubscribe_give_up_s: float = Field(120.0, gt=0, le=3600)

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


class BusSettings(Section):
    """What the service believes from the MQTT bus (see docs/operations.md, "The bus")."""

    # Bridges whose vote batches count and handset tables are read; empty: this service's own
    # bridge_id only.
    bridges: list[str] = []
    # A vote batch larger than this is dropped (batch_max presses take about 100 bytes each).
    max_message_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    # Any other message the service mirrors (round states, tallies, results, the agenda,
    # handset tables) larger than this is dropped: a whole handset table of 50,000 handsets
    # is about 5 MB.
    max_state_bytes: int = Field(32 * 1_048_576, ge=65536, le=256 * 1_048_576)
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


class JournalSettings(Section):
    """The durable press journal (SQLite in WAL mode, group commit)."""

    path: Path = Path("var/journal.sqlite3")
    # Presses in one group commit at most; under load one fsync covers this many.
    commit_max: int = Field(2000, ge=1)
    # How often a write that failed (a full disk) is tried again; presses wait in memory.
    retry_ms: int = Field(500, ge=10, le=60_000)
    # Free space on the journal's file system below which /health warns (0: never).
    min_free_mb: int = Field(100, ge=0)
    # When an anonymous round's key is destroyed, the WAL is truncated so that the key's old
    # pages leave the files; while an export holds the file, the next commits try again,
    # each waiting at most this long so that presses are not held up.
    key_purge_wait_ms: int = Field(50, ge=0, le=5000)


class DedupSettings(Section):
    """Windows that tell a repeat or an echo from a genuine new press."""

    # A press of the handset's previous answer from another receiver this soon after the
    # change is an echo that arrived late over that receiver's link.
    echo_window_s: float = Field(2.0, ge=0)


class RoundSettings(Section):
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
    # A batch leaves at once after a quiet spell, and at most batch_interval_ms after its
    # commit under load; 200 ms covers a loaded host, and a batch later still republishes
    # corrected results.
    settle_ms: int = Field(200, ge=0, le=60000)


class TallySettings(Section):
    """The tally owner, and a standby that takes over when it dies."""

    # A standby counts everything (and keeps its own record) but publishes nothing until the
    # active tally has not been heard for lease_s; then it takes over with a higher epoch.
    standby: bool = False
    # The active tally renews its lease this often; a standby takes over after lease_s of
    # silence, so takeover is bounded by lease_s + renew_s.
    renew_s: float = Field(1.0, gt=0, le=60)
    lease_s: float = Field(3.0, gt=0, le=600)


class FaultSettings(Section):
    """Thresholds of the fault watch (docs/operations.md, "Faults the board raises")."""

    # A human presses at most a few times in this window, each press sent a few times until
    # acknowledged; a key held down or a dying fob transmits several times a second.
    stuck_window_s: float = Field(5.0, gt=0, le=300)
    stuck_max_frames: int = Field(20, ge=2, le=10000)
    # A receiver's carrier/collision error blames a handset heard this often on it meanwhile.
    jam_min_frames: int = Field(8, ge=1, le=10000)
    # A sequence number further ahead than this is no retransmit or lost press: a forgery.
    spoof_seq_jump: int = Field(16, ge=2, le=127)
    # One handset heard on one receiver with signal strengths this far apart this close in
    # time is two transmitters (a handset's own readings vary by a few dB).
    spoof_rssi_db: int = Field(25, ge=3, le=120)
    spoof_window_s: float = Field(1.0, gt=0, le=60)
    # Receivers too far apart for one handset to reach both (pairs of receiver names).
    far_apart: list[tuple[str, str]] = []
    low_battery: int = Field(20, ge=0, le=100)  # percent; handsets lose range below it
    # A receiver whose frames fail their checks at this share (of at least bad_frame_min
    # frames in receiver_window_s) hears interference or a failing link.
    receiver_window_s: float = Field(30.0, gt=0, le=3600)
    bad_frame_ratio: float = Field(0.2, gt=0, le=1)
    bad_frame_min: int = Field(10, ge=1)
    backlog_max: int = Field(32, ge=1)  # events queued in a receiver for the host
    # A flag stays up this long after its condition last held, so a technician sees it.
    flag_keep_s: float = Field(300.0, gt=0, le=86400)


class EventSettings(Section):
    """The event: its agenda and roster files (loaded once; the API edits them after)."""

    agenda: Path | None = None  # e.g. config/agendas/vestegn-summit.toml
    roster: Path | None = None  # CSV (comma or semicolon) or .xlsx, with an id column
    # Segments with fewer voters than this are not split out in results (privacy).
    min_segment: int = Field(5, ge=1, le=1000)
    # An uploaded roster larger than this is refused before it is parsed: a sheet of a few
    # thousand delegates is well under 1 MB as CSV or .xlsx.
    roster_max_bytes: int = Field(4_000_000, ge=1024, le=100_000_000)
    # More participants than this is a wrong file (a whole register), not an event's roster.
    roster_max_rows: int = Field(5000, ge=1, le=100_000)
    # The language of the pages, the report, the exports and the API's messages ("en" or
    # "da"); each page can switch, and a request can ask for another with ?lang=.
    language: Language = Language.EN
    # With a roster loaded, presses from handsets no participant holds are held (journaled,
    # shown to the technician, not counted) so that a delegate with two keypads votes once;
    # "count" counts them as the handset's own vote.
    unpaired: Unpaired = Unpaired.HOLD
    # Rounds are anonymous (handsets and participants only as per-round pseudonyms) unless
    # their agenda theme says otherwise; see docs/privacy.md.
    anonymous: bool = False
    # An amendment puts at most this many pairings right; more is a new roster, not a fix.
    amendment_pairings_max: int = Field(50, ge=1, le=1000)
    # Characters of parameters the audit trail keeps per action (a roster upload's lists of
    # added and removed participants are cut there).
    audit_params_max: int = Field(4000, ge=200, le=100000)


class ApiSettings(Section):
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


class ReceiverSettings(Section):
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


class SupervisorSettings(Section):
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
    tally: TallySettings = TallySettings()
    event: EventSettings = EventSettings()
    api: ApiSettings = ApiSettings()
    supervisor: SupervisorSettings = SupervisorSettings()
    faults: FaultSettings = FaultSettings()
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
        problems = "; ".join(_problem(err["loc"], err["type"], err["msg"]) for err in exc.errors())
        raise ConfigError(f"config file {file} (or ARS_* environment): {problems}") from None


def _problem(loc: tuple[int | str, ...], kind: str, msg: str) -> str:
    """One validation error as ``section.key: what is wrong``, with a near miss suggested."""
    where = ".".join(str(p) for p in loc) or "(top level)"
    if kind != "extra_forbidden":
        return f"{where}: {msg}"
    known = sorted(_model_at(loc[:-1]).model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
    return f"{where}: unknown setting; {hint}"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The settings model that holds the keys of the table at ``loc``."""
    model: type[BaseModel] = Settings
    for part in loc:
        if isinstance(part, int):
            continue  # an entry of an array of tables, such as [[receivers]]
        annotation = model.model_fields[part].annotation
        inner = getattr(annotation, "__args__", (annotation,))[0]
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            break
        model = inner
    return model
