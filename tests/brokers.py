"""A Mosquitto process of the tests' own: on a free loopback port, with a config file in a
temporary folder, so that no test needs or touches a broker someone else started."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import free_port

START_TIMEOUT_S = 10.0  # a loaded two-core machine may take a while to start a process
STOP_TIMEOUT_S = 10.0


def mosquitto_executable() -> str | None:
    """The ``mosquitto`` binary: on the PATH, or in /usr/sbin where Debian puts it (which is
    not on the PATH of every user)."""
    found = shutil.which("mosquitto")
    if found is None and os.access("/usr/sbin/mosquitto", os.X_OK):
        found = "/usr/sbin/mosquitto"
    return found


class Mosquitto:
    """A Mosquitto on 127.0.0.1 and a port of its own, configured in ``folder``.

    ``persist`` keeps sessions and retained messages across :meth:`stop` and :meth:`start`
    (in ``folder``); without it a restarted broker has forgotten them. :meth:`start` returns
    once the broker accepts connections; it and :meth:`stop` block, and a test on an event
    loop uses :meth:`start_async` and :meth:`stop_async` instead.
    """

    def __init__(self, folder: Path, *, persist: bool = False) -> None:
        exe = mosquitto_executable()
        if exe is None:
            raise FileNotFoundError(
                "mosquitto is not installed (Debian and Ubuntu: apt-get install mosquitto; "
                "`make test` installs it)"
            )
        self.exe = exe
        self.folder = folder
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.conf = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        store = (
            f"persistence true\npersistence_location {folder}/\n"
            if persist
            else "persistence false\n"
        )
        # Run as root, mosquitto would switch to its own user, which cannot write the folder.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{store}{user}")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.exe, "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            except OSError:
                time.sleep(0.05)
            else:
                return
        self.stop()
        tail = self.log.read_text(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"mosquitto did not start on port {self.port}: {' | '.join(tail)}")

    def stop(self) -> None:
        """Stop the broker (if it runs) and wait for its process to end."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    async def start_async(self) -> None:
        """:meth:`start` without blocking the event loop."""
        await asyncio.to_thread(self.start)

    async def stop_async(self) -> None:
        """:meth:`stop` without blocking the event loop."""
        await asyncio.to_thread(self.stop)
