"""Beyond Question receiver frames (pure: no I/O).

The receiver (USB CDC-ACM ``0471:0888``, 38400 baud) sends one 9-byte frame per keypad
message (reference ``receivers.md`` §3, from a public Python driver for it):

    'R' id0 id1 id2 ':' 'K' button '\\r' '\\n'

The three ID bytes are a little-endian 24-bit number whose top 21 bits are the keypad's
radio ID (``raw >> 3``). The low 3 bits are not documented; they are kept in the frame so
that a frame re-encodes to the same bytes, and ignored for the handset ID. The only
integrity check is the fixed pattern; on anything else the decoder slides one byte and
tries again.

Handset IDs: the 21-bit radio ID as 6 upper-case hex digits (``000000``-``1FFFFF``), the
form :data:`firmware_sim.audience.ID_FORMS` generates. The vendor software also shows a
keypad number, ``(id % MOD) + 1`` for ``LO <= id <= HI`` with MOD/LO/HI from its
``RF.ini``; that is a roster label, so the service keeps the radio ID, which never changes.

Buttons: 0 is the key ``0`` and 1-10 are ``A``-``J``: those are votes. The others are not
votes but prove that the keypad is on and in range, so they become presence
(:class:`PingFrame`): 11 check-answer, 12 help-me, 13-16 the arrows, 18/19 jump and 21
log-on. A frame with any other button code is rejected and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base import KeyFrame, NoiseFrame, PingFrame, ProtocolError, RejectedFrame

FRAME_LEN = 9  # bytes per frame, CR LF included
START = ord("R")  # offset 0
SEPARATOR = b":K"  # offsets 4 and 5
END = b"\r\n"  # offsets 7 and 8
BUTTON_AT = 6  # offset of the button code
ID_SHIFT = 3  # raw 24-bit ID >> 3 is the keypad's radio ID
ID_BITS = 21  # 24 - ID_SHIFT
MAX_NOISE_BYTES = 64  # skipped bytes are reported in runs of at most this many

BUTTON_CHECK_ANSWER = 11
BUTTON_HELP_ME = 12
BUTTON_ARROWS = (13, 14, 15, 16)  # which is which direction is not documented
BUTTON_JUMPS = (18, 19)
BUTTON_LOG_ON = 21

# Button code -> the key a Press carries.
ANSWER_BUTTONS: dict[int, str] = {0: "0", **{n: chr(ord("A") + n - 1) for n in range(1, 11)}}
KEY_BUTTONS: dict[str, int] = {key: code for code, key in ANSWER_BUTTONS.items()}
PRESENCE_BUTTONS = frozenset(
    {BUTTON_CHECK_ANSWER, BUTTON_HELP_ME, *BUTTON_ARROWS, *BUTTON_JUMPS, BUTTON_LOG_ON}
)

# Where each fixed byte of a frame sits, for rejecting a start position early.
_FIXED: tuple[tuple[int, int], ...] = (
    (0, START),
    (4, SEPARATOR[0]),
    (5, SEPARATOR[1]),
    (7, END[0]),
    (8, END[1]),
)


def handset_id(keypad: int) -> str:
    """The handset ID of a 21-bit keypad radio ID."""
    return f"{keypad:06X}"


def parse_keypad(handset: str) -> int:
    """The 21-bit keypad radio ID of a handset ID; raises :class:`ProtocolError` if invalid."""
    try:
        keypad = int(handset.strip(), 16)
    except ValueError:
        keypad = -1
    if not 0 <= keypad < 1 << ID_BITS:
        raise ProtocolError(f"Beyond Question ID {handset!r} is not 000000 to 1FFFFF")
    return keypad


@dataclass(frozen=True, slots=True)
class ButtonFrame:
    """One keypad message: its 21-bit radio ID, the button code and the 3 undocumented bits."""

    keypad: int
    button: int
    low_bits: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.keypad < 1 << ID_BITS:
            raise ProtocolError(f"a keypad ID has {ID_BITS} bits, got {self.keypad:#x}")
        if not 0 <= self.button <= 0xFF:
            raise ProtocolError(f"a button code is one byte, got {self.button}")
        if not 0 <= self.low_bits < 1 << ID_SHIFT:
            raise ProtocolError(f"low_bits has {ID_SHIFT} bits, got {self.low_bits}")

    @classmethod
    def for_key(cls, handset: str, key: str) -> ButtonFrame:
        """The frame a keypad sends when ``key`` (``0``, ``A``-``J``) is pressed."""
        button = KEY_BUTTONS.get(key)
        if button is None:
            raise ProtocolError(f"a Beyond Question keypad has no key {key!r}")
        return cls(parse_keypad(handset), button)

    @property
    def handset(self) -> str:
        """The handset ID (6 hex digits)."""
        return handset_id(self.keypad)

    def to_bytes(self) -> bytes:
        """The 9 bytes on the serial line."""
        raw = (self.keypad << ID_SHIFT | self.low_bits).to_bytes(3, "little")
        return bytes([START]) + raw + SEPARATOR + bytes([self.button]) + END

    @classmethod
    def from_bytes(cls, frame: bytes) -> ButtonFrame:
        """Parse 9 bytes; raises :class:`ProtocolError` if they are not a frame."""
        if len(frame) != FRAME_LEN or not _fits(frame, len(frame)):
            raise ProtocolError(f"not a Beyond Question frame: {frame.hex(' ')}")
        raw = int.from_bytes(frame[1:4], "little")
        return cls(raw >> ID_SHIFT, frame[BUTTON_AT], raw & (1 << ID_SHIFT) - 1)


def _fits(buf: bytes | bytearray, n: int, at: int = 0) -> bool:
    """Whether the ``n`` bytes available from ``at`` can be the start of a frame."""
    return all(buf[at + i] == byte for i, byte in _FIXED if i < n)


def classify(frame: ButtonFrame, raw: bytes) -> KeyFrame | PingFrame | RejectedFrame:
    """What a keypad message means to the service: a vote, presence, or an unknown button."""
    key = ANSWER_BUTTONS.get(frame.button)
    if key is not None:
        return KeyFrame(frame.handset, key)
    if frame.button in PRESENCE_BUTTONS:
        return PingFrame(frame.handset)
    return RejectedFrame(raw, f"unknown button: code {frame.button}")


class FrameDecoder:
    """Serial bytes in, frames out; resynchronises one byte at a time; never raises.

    Frames are :class:`KeyFrame`, :class:`PingFrame`, :class:`RejectedFrame` and, for bytes
    skipped while resynchronising, :class:`NoiseFrame` (reported before the next frame or
    every :data:`MAX_NOISE_BYTES`, so that cutting the input into other chunks never
    changes the result).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._noise = bytearray()

    def feed(self, data: bytes) -> list[object]:
        """Decode every frame that ``data`` completes."""
        buf = self._buf
        buf += data
        out: list[object] = []
        at = 0
        while at < len(buf):
            available = len(buf) - at
            if not _fits(buf, min(available, FRAME_LEN), at):
                start = buf.find(START, at + 1)
                skip_to = len(buf) if start < 0 else start
                self._skip(buf[at:skip_to], out)
                at = skip_to
                continue
            if available < FRAME_LEN:
                break  # a frame may be starting: wait for the rest
            raw = bytes(buf[at : at + FRAME_LEN])
            self._flush_noise(out)
            out.append(classify(ButtonFrame.from_bytes(raw), raw))
            at += FRAME_LEN
        del buf[:at]
        return out

    def finish(self) -> list[object]:
        """Report whatever is left at the end of a capture as noise."""
        out: list[object] = []
        self._skip(self._buf, out)
        self._buf.clear()
        self._flush_noise(out)
        return out

    def _skip(self, skipped: bytes | bytearray, out: list[object]) -> None:
        noise = self._noise
        noise += skipped
        while len(noise) >= MAX_NOISE_BYTES:
            out.append(NoiseFrame(bytes(noise[:MAX_NOISE_BYTES])))
            del noise[:MAX_NOISE_BYTES]

    def _flush_noise(self, out: list[object]) -> None:
        if self._noise:
            out.append(NoiseFrame(bytes(self._noise)))
            self._noise.clear()


def decode_all(data: bytes) -> list[object]:
    """Every frame in a complete raw capture, trailing bytes reported as noise."""
    decoder = FrameDecoder()
    return [*decoder.feed(data), *decoder.finish()]
