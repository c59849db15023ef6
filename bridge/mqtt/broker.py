"""The embedded MQTT broker, on loopback, for zero-install events.

With ``[broker] server = "auto"`` (the default) it is a Mosquitto process the service starts
and stops itself when the ``mosquitto`` binary is installed, and amqtt inside the service
otherwise (``"mosquitto"`` or ``"amqtt"`` choose one). Either way anonymous clients are
refused and every role has its user and topic ACL (bridge.mqtt.access), with passwords kept
in ``[broker] credentials``. Retained messages live in memory only; the service republishes
its retained topics after every reconnect, so nothing depends on the broker keeping them.
amqtt accepts connections with ``asyncio.start_server``, whose sockets have Nagle's algorithm
off (TCP_NODELAY), so a vote batch or a tally is passed on at once, not held for an ACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import getpass
import logging
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from amqtt.broker import Broker
from amqtt.errors import BrokerError

from bridge.mqtt.access import (
    CredentialsError,
    Grant,
    credentials_path,
    load_credentials,
    mosquitto_acl,
    mosquitto_passwd,
    user_grants,
    user_of,
)
from bridge.mqtt.amqtt_broker import start_amqtt, stop_amqtt
from bridge.settings import ConfigError, Settings

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0  # how long a starting Mosquitto may take to listen
STOP_TIMEOUT_S = 5.0  # how long a stopping Mosquitto may take before it is killed
MOSQUITTO_DIRS = ("/usr/sbin", "/usr/local/sbin")  # Debian installs it outside a user's PATH


class BrokerStartError(Exception):
    """The embedded broker could not listen; the message names the address and the setting."""


def embedded_broker(
    settings: Settings, roles: Iterable[str]
) -> tuple[EmbeddedBroker, tuple[str, str]]:
    """The ``[broker]`` a process running ``roles`` starts, and the user and password it
    connects with; raises ConfigError when the credentials file cannot be used."""
    grants = user_grants(settings.mqtt.base)
    try:
        passwords = load_credentials(credentials_path(settings), grants)
    except CredentialsError as exc:
        raise ConfigError(str(exc)) from None
    b = settings.broker
    broker = EmbeddedBroker(
        b.host,
        b.port,
        max_connections=b.max_connections,
        passwords=passwords,
        grants=grants,
        server=b.server,
        mosquitto=b.mosquitto,
        run_dir=credentials_path(settings).parent / "broker",
    )
    user = user_of(roles)
    return broker, (user, passwords[user])


def find_mosquitto(name: str = "mosquitto") -> str | None:
    """The path of the Mosquitto binary, or None when it is not installed."""
    found = shutil.which(name)
    if found is None and "/" not in name:
        found = shutil.which(name, path=":".join(MOSQUITTO_DIRS))
    return found


class EmbeddedBroker:
    """A broker bound to ``host:port`` while the context is entered, enforcing ``grants``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1884,
        *,
        max_connections: int = 200,
        passwords: dict[str, str] | None = None,
        grants: dict[str, Grant] | None = None,
        server: str = "auto",
        mosquitto: str = "mosquitto",
        run_dir: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.passwords = passwords or {}
        self.grants = grants or {}
        binary = find_mosquitto(mosquitto) if server in ("auto", "mosquitto") else None
        if server == "mosquitto" and binary is None:
            raise BrokerStartError(
                f"[broker] server = 'mosquitto' but {mosquitto!r} is not installed; "
                "install it (apt-get install mosquitto) or set [broker] server = 'auto'"
            )
        self.server = "mosquitto" if binary is not None else "amqtt"
        self._binary = binary
        self._run_dir = run_dir  # Mosquitto's files; None: a temporary directory
        self._process: asyncio.subprocess.Process | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._amqtt: Broker | None = None

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on ``host:port``; raises :class:`BrokerStartError` when it cannot."""
        _check_free(self.host, self.port)
        if self._binary is not None:
            await self._start_mosquitto(self._binary)
        else:
            try:
                self._amqtt = await start_amqtt(
                    self.host, self.port, self.max_connections, self.passwords, self.grants
                )
            except BrokerError as exc:
                raise BrokerStartError(
                    f"embedded MQTT broker cannot start on {self.host}:{self.port}: {exc}; "
                    "set [broker] port (ARS_BROKER_PORT)"
                ) from None
        log.info("embedded MQTT broker (%s) listening on %s:%d", self.server, self.host, self.port)

    async def _start_mosquitto(self, binary: str) -> None:
        # Its files (passwords hashed) live beside the credentials, written anew at each start
        # so that a service killed outright leaves nothing behind elsewhere.
        if self._run_dir is not None:
            where = self._run_dir
            where.mkdir(mode=0o700, parents=True, exist_ok=True)
            where.chmod(0o700)
        else:
            self._dir = tempfile.TemporaryDirectory(prefix="arsbridge-broker-")
            where = Path(self._dir.name)
        (where / "passwd").write_text(mosquitto_passwd(self.passwords), encoding="utf-8")
        (where / "acl").write_text(mosquitto_acl(self.grants), encoding="utf-8")
        conf = where / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    f"listener {self.port} {self.host}",
                    "allow_anonymous false",
                    f"password_file {where / 'passwd'}",
                    f"acl_file {where / 'acl'}",
                    f"max_connections {self.max_connections}",
                    "persistence false",
                    # Mosquitto started as root would switch to the user 'mosquitto', who
                    # cannot read this directory: it stays the service's own user.
                    f"user {getpass.getuser()}",
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        self._process = await asyncio.create_subprocess_exec(
            binary,
            "-c",
            str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        try:
            await asyncio.wait_for(self._until_listening(), START_TIMEOUT_S)
        except (TimeoutError, BrokerStartError):
            err = await self._stop_mosquitto()
            raise BrokerStartError(
                f"embedded MQTT broker (mosquitto) did not start on {self.host}:{self.port}: "
                f"{err or 'no answer'}; set [broker] port (ARS_BROKER_PORT) or "
                "[broker] server = 'amqtt'"
            ) from None

    async def _until_listening(self) -> None:
        assert self._process is not None
        while True:
            if self._process.returncode is not None:
                raise BrokerStartError("mosquitto exited")
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    async def stop(self) -> None:
        if self._process is not None:
            await self._stop_mosquitto()
        amqtt, self._amqtt = self._amqtt, None
        if amqtt is not None:
            await stop_amqtt(amqtt)

    async def _stop_mosquitto(self) -> str:
        """Stop the process; what it said on stderr, for an error message."""
        process, self._process = self._process, None
        err = b""
        if process is not None:
            if process.returncode is None:
                process.terminate()
            try:
                _, err = await asyncio.wait_for(process.communicate(), STOP_TIMEOUT_S)
            except TimeoutError:
                process.kill()
                _, err = await process.communicate()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        return err.decode(errors="replace").strip().replace("\n", "; ")[-300:]

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


# Loaded here, not in the forked child, which must only make the call (other threads of the
# service may hold locks at the moment of the fork).
_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform.startswith("linux") else None
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: a service killed outright takes its broker with it, so
    that the port is free when it is started again (Linux; elsewhere stop() does it)."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _check_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise BrokerStartError(
                f"embedded MQTT broker cannot listen on {host}:{port} ({reason}); "
                "set [broker] port (ARS_BROKER_PORT), or use the broker that runs there "
                f"with ARS_MQTT_URL=mqtt://{host}:{port}"
            ) from None
