"""The ``arsbridge`` command as a person uses it: help, recounts, and errors in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import serial

from firmware_sim.link import PtyEndpoint
from tests.conftest import free_port

COMMANDS = ["demo", "serve", "bridge", "tally", "api", "replay", "sim", "export", "receivers"]


def arsbridge(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "arsbridge.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str], status: int) -> str:
    assert done.returncode == status, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("arsbridge: error: ")]
    assert len(errors) == 1, done.stderr
    assert done.stderr.rstrip().endswith(errors[0]), "the error is the last word"
    return errors[0]


def test_help_names_every_command() -> None:
    done = arsbridge("--help")
    assert done.returncode == 0
    for command in COMMANDS:
        assert command in done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_says_what_it_does(command: str) -> None:
    done = arsbridge(command, "--help")
    assert done.returncode == 0
    assert len(done.stdout) > 200


@pytest.mark.parametrize(
    ("question", "voters", "counts"),
    [
        ("q2", 147, {"A": 15, "B": 118, "C": 8, "D": 6, "E": 0}),
        ("q3", 150, {"A": 17, "B": 2, "C": 9, "D": 119, "E": 3}),
    ],
)
def test_replay_of_each_capture_gives_the_published_tally(
    captures: Path, question: str, voters: int, counts: dict[str, int]
) -> None:
    capture = captures / "iskipper-2017-04-13" / f"2017-04-13-{question}.txt"
    done = arsbridge("replay", "--driver", "iskipper", "--input", str(capture), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["voters"] == voters
    assert result["counts"] == counts
    assert result["presses"] > result["voters"]
    assert result["duplicates"] > 0
    assert result["rejected"] == 0


def test_replay_first_answer_policy_differs_where_people_changed_their_mind(
    captures: Path,
) -> None:
    capture = captures / "iskipper-2017-04-13" / "2017-04-13-q3.txt"
    last = json.loads(
        arsbridge("replay", "--driver", "iskipper", "--input", str(capture), "--json").stdout
    )
    first = json.loads(
        arsbridge(
            "replay", "--driver", "iskipper", "--input", str(capture), "--policy", "first", "--json"
        ).stdout
    )
    assert first["voters"] == last["voters"]
    assert first["counts"] != last["counts"]
    assert sum(first["counts"].values()) == sum(last["counts"].values())


def test_replay_prints_a_table_by_default(captures: Path) -> None:
    capture = captures / "iskipper-2017-04-13" / "2017-04-13-q2.txt"
    done = arsbridge("replay", "--driver", "iskipper", "--input", str(capture))
    assert done.returncode == 0
    assert "voters 147" in done.stdout


def test_unknown_driver(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("")
    line = one_line_error(
        arsbridge("replay", "--driver", "clicky", "--input", str(tmp_path / "x.txt")), 2
    )
    assert "clicky" in line
    assert "iskipper" in line  # names the drivers there are


def test_missing_input_file(tmp_path: Path) -> None:
    line = one_line_error(
        arsbridge("replay", "--driver", "iskipper", "--input", str(tmp_path / "nope.txt")), 1
    )
    assert "nope.txt" in line


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "arsbridge.toml"
    path.write_text(body)
    return path


def test_malformed_config_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[mqtt\nurl = 'embedded'\n")
    line = one_line_error(arsbridge("serve", "--config", str(config)), 2)
    assert str(config) in line
    assert "TOML" in line


def test_config_value_of_the_wrong_kind_names_the_setting(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[mqtt]\nbatch_max = 'many'\n")
    line = one_line_error(arsbridge("serve", "--config", str(config)), 2)
    assert "mqtt.batch_max" in line


def test_unknown_receiver_driver_in_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[[receivers]]\nname = "rx1"\ndriver = "clicky"\n')
    line = one_line_error(arsbridge("serve", "--config", str(config)), 2)
    assert "receivers[0]" in line
    assert "clicky" in line


def test_unreachable_broker_names_the_setting(tmp_path: Path) -> None:
    env = {
        "ARS_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}",
        "ARS_MQTT_CONNECT_TIMEOUT_S": "1",
        "ARS_JOURNAL_PATH": str(tmp_path / "j.sqlite3"),
    }
    line = one_line_error(arsbridge("serve", env=env, cwd=tmp_path), 1)
    assert "ARS_MQTT_URL" in line


def test_serial_port_that_does_not_exist(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f"""
[journal]
path = "{tmp_path / "j.sqlite3"}"
[broker]
port = {free_port()}
[[receivers]]
name = "rx1"
driver = "iskipper"
url = "/dev/ttyNOPE7"
""",
    )
    line = one_line_error(arsbridge("serve", "--config", str(config)), 1)
    assert "/dev/ttyNOPE7" in line
    assert "does not exist" in line
    assert "receivers[0]" in line


async def test_serial_port_that_is_busy(tmp_path: Path) -> None:
    async with PtyEndpoint() as endpoint:
        config = write_config(
            tmp_path,
            f"""
[journal]
path = "{tmp_path / "j.sqlite3"}"
[broker]
port = {free_port()}
[[receivers]]
name = "rx1"
driver = "iskipper"
url = "{endpoint.url}"
""",
        )
        with serial.Serial(endpoint.url, exclusive=True):
            line = one_line_error(arsbridge("serve", "--config", str(config)), 1)
    assert "busy" in line
    assert endpoint.url in line


def test_embedded_broker_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"ARS_BROKER_PORT": str(port), "ARS_JOURNAL_PATH": str(tmp_path / "j.sqlite3")}
        line = one_line_error(arsbridge("serve", env=env), 1)
    assert str(port) in line
    assert "ARS_BROKER_PORT" in line


def test_receivers_lists_what_is_plugged_in_as_json() -> None:
    done = arsbridge("receivers", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert set(found) == {"bases", "serial_ports"}
    for base in found["bases"]:
        assert base["url"].startswith("usb:")
