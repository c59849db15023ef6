"""``arsbridge replay`` for the TurningPoint and Beyond Question receivers: captures made
with each family's own encoder, with retransmits, changes of answer and damaged frames,
recount to what the handsets last sent."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.beyondq.codec import ButtonFrame
from drivers.turning.codec import Response, boot_banner, incoming_line
from firmware_sim.audience import Audience, make_handset_ids
from tests.arsbridge.test_cli import arsbridge

Capture = Callable[[list[tuple[str, str]], random.Random], bytes]


def turning_capture(presses: list[tuple[str, str]], rng: random.Random) -> bytes:
    out = [boot_banner()]
    for handset, key in presses:
        line = incoming_line(Response.for_key(handset, key))
        out += [line] * rng.randint(1, 3)  # retransmits until acknowledged
    damaged = bytearray(incoming_line(Response.for_key(presses[0][0], "A")))
    damaged[12] ^= 0x01  # one flipped bit in the hex of the ID: the CRC no longer matches
    out.append(bytes(damaged))
    return b"".join(out)


def beyondq_capture(presses: list[tuple[str, str]], rng: random.Random) -> bytes:
    out = [b"\x00\xffnoise"]
    for handset, key in presses:
        out += [ButtonFrame.for_key(handset, key).to_bytes()] * rng.randint(1, 3)
    return b"".join(out)


@pytest.mark.parametrize(
    ("driver", "family", "capture", "rejected"),
    [
        ("turning", "turning", turning_capture, 1),
        ("beyondq", "beyondq", beyondq_capture, 0),
    ],
)
def test_replay_recounts_a_capture(
    tmp_path: Path, driver: str, family: str, capture: Capture, rejected: int
) -> None:
    rng = random.Random(5)
    plan = Audience(make_handset_ids(60, family, seed=5), seed=5).plan(
        "ABCDE", duration_s=30, change_rate=0.3
    )
    presses = [(p.handset, p.key) for p in plan.presses]
    path = tmp_path / "capture.bin"
    path.write_bytes(capture(presses, rng))
    done = arsbridge("replay", "--driver", driver, "--input", str(path), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["voters"] == plan.voters
    assert result["counts"] == plan.expected()
    assert result["changes"] == plan.changes
    assert result["duplicates"] > 0
    assert result["rejected"] == rejected


def test_replay_of_an_iclicker_base_dump(tmp_path: Path) -> None:
    dump = tmp_path / "base.txt"
    dump.write_text(
        "# an i>clicker 2 base, channel AA\n"
        "OUT 01 11\n"
        "IN 01 11 AA\n"
        "IN 02 13 81 82 E9 70 00\n"  # 82E9701B pressed A (index 0)
        "IN 02 13 81 82 E9 70 00\n"  # the base re-sends it
        "IN 02 13 82 42 80 71 01\n"  # 428071B3 pressed B (index 1)
        "IN 02 13 83 82E970 02\n"  # 82E9701B changed to C (index 2); spaces are optional
    )
    done = arsbridge("replay", "--driver", "iclicker-usb", "--input", str(dump), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["voters"] == 2
    assert result["counts"] == {"A": 0, "B": 1, "C": 1, "D": 0, "E": 0}
    assert result["changes"] == 1
