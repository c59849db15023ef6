"""Who may publish and read what on the bus: a user per role, and the topics each one needs.

- ``bridge`` publishes vote batches, receiver availability, its state and handset table, and
  an anonymous round's turnout by table;
- ``tally`` publishes tallies and results, the bridges' acknowledged marks and its lease, and
  alone reads vote batches;
- ``api`` (the host) publishes round states, the current round, the agenda, the roster, an
  amendment's results, and round commands and their answers;
- ``display`` reads round states, tallies, results, the current round and the agenda;
- ``integration`` reads what a display reads, receiver availability and bridge states.

The service roles read the public state, the roster and the handset tables too.
Nobody but the tally reads vote batches (they name who pressed what); per-handset tables
go to the bridge, tally and api roles only. A process that runs several roles connects as
their union (``api+bridge+tally``). Every process also publishes and reads heartbeats under
``{base}/link/``, to tell a link that delivers from one that stopped.

The same table makes the embedded broker's users and ACLs and the Mosquitto files that
``arsbridge broker-config`` writes.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import secrets
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bridge.settings import Settings

SERVICE_ROLES = ("api", "bridge", "tally")  # the roles an arsbridge process runs
CLIENT_ROLES = ("display", "integration")  # software that only reads
MOSQUITTO_ITERATIONS = 101  # what mosquitto_passwd uses for its $7$ (PBKDF2-SHA512) hashes


@dataclass(frozen=True, slots=True)
class Grant:
    """The topic filters a user may publish to and subscribe to (below nothing: full topics)."""

    publish: frozenset[str]
    subscribe: frozenset[str]

    def __or__(self, other: Grant) -> Grant:
        return Grant(self.publish | other.publish, self.subscribe | other.subscribe)


def role_grants(base: str) -> dict[str, Grant]:
    """Each role's grant under topic ``base``."""
    public = {
        f"{base}/round/+/state",
        f"{base}/round/+/tally",
        f"{base}/round/+/results",
        f"{base}/round/current",
        f"{base}/agenda",
    }
    status = {f"{base}/rx/+/availability", f"{base}/bridge/+/state"}
    # Delivery (acknowledged marks, the tally's lease) and anonymous rounds' turnout by table.
    delivery = {f"{base}/bridge/+/acked", f"{base}/tally/state", f"{base}/round/+/turnout"}
    tables = {f"{base}/bridge/+/handsets", f"{base}/bridge/+/handset_changes"}
    service_reads = public | status | delivery | tables | {f"{base}/roster"}
    heartbeat = {f"{base}/link/#"}
    return {
        "bridge": Grant(
            frozenset(
                {
                    f"{base}/rx/+/votes",
                    f"{base}/rx/+/availability",
                    f"{base}/bridge/+/state",
                    f"{base}/round/+/turnout",
                }
                | tables
                | heartbeat
            ),
            frozenset(service_reads | heartbeat),
        ),
        "tally": Grant(
            frozenset(
                {
                    f"{base}/round/+/tally",
                    f"{base}/round/+/results",
                    f"{base}/bridge/+/acked",
                    f"{base}/tally/state",
                }
                | heartbeat
            ),
            frozenset(service_reads | heartbeat | {f"{base}/rx/+/votes"}),
        ),
        "api": Grant(
            frozenset(
                {
                    f"{base}/round/+/state",
                    f"{base}/round/+/results",  # an amendment's revision
                    f"{base}/round/current",
                    f"{base}/agenda",
                    f"{base}/roster",
                    f"{base}/bridge/+/request/+",
                    f"{base}/bridge/+/response/+",
                }
                | heartbeat
            ),
            frozenset(
                service_reads
                | heartbeat
                | {f"{base}/bridge/+/request/+", f"{base}/bridge/+/response/+"}
            ),
        ),
        "display": Grant(frozenset(), frozenset(public)),
        "integration": Grant(frozenset(), frozenset(public | status)),
    }


def user_of(roles: Iterable[str]) -> str:
    """The user a process running ``roles`` connects as: ``api+bridge+tally``."""
    return "+".join(sorted(set(roles)))


def user_grants(base: str) -> dict[str, Grant]:
    """Every user: each role alone, and each combination of service roles one process runs."""
    grants = role_grants(base)
    users = dict(grants)
    for n in range(2, len(SERVICE_ROLES) + 1):
        for combo in itertools.combinations(SERVICE_ROLES, n):
            merged = grants[combo[0]]
            for role in combo[1:]:
                merged = merged | grants[role]
            users[user_of(combo)] = merged
    return users


def covers(allowed: str, wanted: str) -> bool:
    """Whether filter ``allowed`` takes in every topic filter ``wanted`` can match."""
    a, w = allowed.split("/"), wanted.split("/")
    for i, level in enumerate(a):
        if level == "#":
            return True
        if i >= len(w) or w[i] == "#" or (level != "+" and (w[i] == "+" or w[i] != level)):
            return False
    return len(a) == len(w)


def permitted(filters: Iterable[str], wanted: str) -> bool:
    """Whether one of ``filters`` covers the topic or filter ``wanted``."""
    return any(covers(f, wanted) for f in filters)


class CredentialsError(Exception):
    """The credentials file cannot be read or written; the message names it and the setting."""


def load_credentials(path: Path, users: Iterable[str]) -> dict[str, str]:
    """The password of every one of ``users`` from ``path``, made (and saved) when missing.

    The file is TOML, ``user = "password"`` per line, readable by its owner only.
    """
    try:
        held = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CredentialsError(
            f"broker credentials {path}: {exc}; see [broker] credentials"
        ) from None
    passwords = {str(k): str(v) for k, v in held.items()}
    missing = [u for u in users if u not in passwords]
    if missing:
        for user in missing:
            passwords[user] = secrets.token_urlsafe(24)
        body = "".join(f'"{u}" = "{p}"\n' for u, p in sorted(passwords.items()))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_name(path.name + f".{os.getpid()}.tmp")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("# MQTT users of arsbridge's broker; keep this file secret.\n" + body)
            temp.replace(path)
        except OSError as exc:
            raise CredentialsError(
                f"broker credentials {path}: {exc}; see [broker] credentials"
            ) from None
    return passwords


def credentials_path(settings: Settings) -> Path:
    """Where the embedded broker's passwords are kept: ``[broker] credentials``, or beside
    the journal."""
    return settings.broker.credentials or settings.journal.path.parent / "broker-credentials.toml"


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """A password hash in Mosquitto's ``$7$`` form (PBKDF2-SHA512), as mosquitto_passwd writes."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, MOSQUITTO_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${MOSQUITTO_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def mosquitto_passwd(passwords: dict[str, str]) -> str:
    """Mosquitto's ``password_file``."""
    return "".join(f"{user}:{mosquitto_hash(pw)}\n" for user, pw in sorted(passwords.items()))


def mosquitto_acl(grants: dict[str, Grant]) -> str:
    """Mosquitto's ``acl_file``: each user's topics; anonymous clients get nothing."""
    out = ["# arsbridge roles: made by `arsbridge broker-config`; see docs/operations.md\n"]
    for user, grant in sorted(grants.items()):
        out.append(f"\nuser {user}\n")
        for topic in sorted(grant.publish | grant.subscribe):
            mode = (
                "readwrite"
                if topic in grant.publish and topic in grant.subscribe
                else "write"
                if topic in grant.publish
                else "read"
            )
            out.append(f"topic {mode} {topic}\n")
    return "".join(out)
