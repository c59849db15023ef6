"""The installed ``arsbridge`` command meeting a person's mistakes: one line, the setting
or flag to change, and the exit status (2 for usage and configuration, 1 otherwise)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.arsbridge.test_cli import one_line_error
from tests.conftest import free_port

ARSBRIDGE = str(Path(sys.executable).with_name("arsbridge"))


def installed(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ARSBRIDGE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("[api]\nprot = 8120\n", "api.prot: unknown setting; did you mean 'port'?"),
        ("[journal]\npth = 'x.sqlite3'\n", "journal.pth: unknown setting; did you mean 'path'?"),
        (
            "[[receivers]]\nname = 'rx1'\ndriver = 'iskipper'\nrequried = false\n",
            "receivers.0.requried: unknown setting; did you mean 'required'?",
        ),
        ("[aip]\nport = 8120\n", "aip: unknown setting; did you mean 'api'?"),
        (
            "[supervisor]\nzzz = 1\n",
            "supervisor.zzz: unknown setting; known keys: backoff_max_s, backoff_min_s",
        ),
    ],
)
def test_a_typo_at_any_level_of_the_config_is_named_with_a_suggestion(
    tmp_path: Path, body: str, says: str
) -> None:
    config = tmp_path / "event.toml"
    config.write_text(body)
    error = one_line_error(installed("serve", "--config", str(config)), 2)
    assert str(config) in error
    assert error.endswith(says)


@pytest.mark.parametrize("kind", ["binary", "empty", "other family"])
def test_replay_of_a_file_that_is_no_capture_of_that_family_is_refused(
    tmp_path: Path, captures: Path, kind: str
) -> None:
    if kind == "other family":
        given = captures / "iskipper-2017-04-13" / "2017-04-13-q2.txt"
    else:
        given = tmp_path / "input.bin"
        given.write_bytes(bytes(range(256)) * 40 if kind == "binary" else b"")
    error = one_line_error(installed("replay", "--driver", "turning", "--input", str(given)), 2)
    assert str(given) in error
    assert "--driver" in error or "--input" in error


def test_export_of_a_file_that_is_not_a_journal_leaves_it_as_it_was(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("delegates to call back: Jensen, Sørensen\n")
    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")
    for given in (notes, empty):
        before = given.read_bytes()
        error = one_line_error(
            installed("export", "--journal", str(given), "--out", str(tmp_path / "out")), 1
        )
        assert f"{given} is not an arsbridge journal" in error
        assert "--journal" in error
        assert given.read_bytes() == before
    assert not (tmp_path / "out").exists()


def _service_env(tmp_path: Path) -> dict[str, str]:
    return {
        "ARS_JOURNAL_PATH": str(tmp_path / "journal.sqlite3"),
        "ARS_BROKER_PORT": str(free_port()),
    }


@asynccontextmanager
async def serving(tmp_path: Path, port: int) -> AsyncIterator[str]:
    """``arsbridge serve`` running until the block ends; yields the line with its URL."""
    proc = await asyncio.create_subprocess_exec(
        *(ARSBRIDGE, "serve", "--port", str(port)),
        env={**os.environ, **_service_env(tmp_path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            while line := (await proc.stdout.readline()).decode():
                if line.startswith("serving "):
                    break
        yield line
    finally:
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) in (0, 130)


async def test_serve_prints_its_url_and_a_second_serve_on_its_journal_is_refused(
    tmp_path: Path,
) -> None:
    port = free_port()
    async with serving(tmp_path, port) as line:
        assert line.startswith(f"serving http://127.0.0.1:{port} ")
        env = _service_env(tmp_path)  # the same journal, another broker port
        done = await asyncio.to_thread(installed, "serve", "--port", str(free_port()), env=env)
    error = one_line_error(done, 1)
    assert f"journal {tmp_path / 'journal.sqlite3'} is in use by another arsbridge process" in error
    assert "[journal] path" in error


def test_a_busy_http_port_is_one_line_naming_the_flag_and_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = installed("serve", "--port", str(port), env=_service_env(tmp_path))
    error = one_line_error(done, 1)
    assert f"HTTP port {port} on 127.0.0.1 is already in use" in error
    assert "--port" in error
    assert "[api] port" in error
