"""``arsbridge broker-config``: Mosquitto's password and ACL files for arsbridge's roles.

The users and topics are those the embedded broker enforces (bridge.mqtt.access); the
passwords are ``[broker] credentials``, made there when missing, so the processes that use
them and the broker agree.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bridge.mqtt.access import (
    credentials_path,
    load_credentials,
    mosquitto_acl,
    mosquitto_passwd,
    user_grants,
)
from bridge.settings import Settings

CONF = """\
# arsbridge roles on Mosquitto (include it, or copy these lines into mosquitto.conf)
listener 1883
allow_anonymous false
password_file {passwd}
acl_file {acl}
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "broker-config",
        help="write Mosquitto's password and ACL files for arsbridge's roles",
        description="Write passwd, acl and mosquitto.conf for a Mosquitto that refuses "
        "anonymous clients and gives each role (bridge, tally, api, display, integration "
        "and the combined users one process runs) its topics. The passwords are those in "
        "[broker] credentials, made there when missing.",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write")
    return p


def write_broker_config(settings: Settings, out: Path) -> list[Path]:
    """Write the files into ``out``; the paths written."""
    grants = user_grants(settings.mqtt.base)
    passwords = load_credentials(credentials_path(settings), grants)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "passwd": mosquitto_passwd(passwords),
        "acl": mosquitto_acl(grants),
    }
    written = []
    for name, body in files.items():
        path = out / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
        written.append(path)
    conf = out / "mosquitto.conf"
    conf.write_text(
        CONF.format(passwd=(out / "passwd").resolve(), acl=(out / "acl").resolve()),
        encoding="utf-8",
    )
    return [*written, conf]
