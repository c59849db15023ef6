"""The worked examples in docs/protocols/arsrx.md are what the codec sends and accepts.

Every ```hex block in the document starts with a line saying what it is:

* ``# wire TYPE field=value ...``: one frame on the wire; it must decode to that type, with
  those field values (``seq`` is the frame's sequence number), and encode back to the same
  bytes;
* ``# frame TYPE field=value ...``: the same, before COBS encoding;
* ``# crc XXXX``: the CRC-16 of the bytes is ``XXXX``.
"""

from __future__ import annotations

import enum
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.arsrx.codec import Frame, FrameDecoder, crc16, parse_unencoded
from drivers.arsrx.spec import FrameType

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocols" / "arsrx.md"
BLOCK = re.compile(r"```hex\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Example:
    kind: str
    args: list[str]
    data: bytes
    line: int


def _examples() -> list[Example]:
    text = DOC.read_text(encoding="utf-8")
    out = []
    for match in BLOCK.finditer(text):
        head, _, body = match.group(1).partition("\n")
        assert head.startswith("# "), f"hex block without a '# kind' line: {head!r}"
        kind, *args = shlex.split(head[2:])
        line = text.count("\n", 0, match.start()) + 1
        out.append(Example(kind, args, bytes.fromhex(body), line))
    return out


EXAMPLES = _examples()


def _shown(value: object) -> str:
    return value.name if isinstance(value, enum.Enum) else str(value)


def _check_fields(frame: Frame, args: list[str]) -> None:
    frame_type, *fields = args
    assert frame.body.TYPE.name == frame_type
    for field in fields:
        name, _, want = field.partition("=")
        owner: object = frame if name == "seq" else frame.body
        assert _shown(getattr(owner, name)) == want, f"{name}: doc says {want}"


def test_the_document_has_examples_of_every_frame_type() -> None:
    shown = {e.args[0] for e in EXAMPLES if e.kind == "wire"}
    assert shown == {t.name for t in FrameType}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"line{e.line}-{e.kind}")
def test_example_matches_the_codec(example: Example) -> None:
    if example.kind == "crc":
        assert crc16(example.data) == int(example.args[0], 16)
    elif example.kind == "frame":
        frame = parse_unencoded(example.data)
        _check_fields(frame, example.args)
        assert frame.unencoded() == example.data
    elif example.kind == "wire":
        assert FrameDecoder().feed(example.data) == [Frame.from_bytes(example.data)]
        frame = Frame.from_bytes(example.data)
        _check_fields(frame, example.args)
        assert frame.to_bytes() == example.data
    else:
        pytest.fail(f"unknown example kind {example.kind!r} at line {example.line}")
