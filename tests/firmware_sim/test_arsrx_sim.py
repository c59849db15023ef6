"""The simulated ARS-RX receiver follows the protocol's receiver state machine, byte for byte."""

from __future__ import annotations

import itertools

import pytest

from drivers.arsrx.codec import Frame, FrameDecoder, cobs_encode, crc16
from drivers.arsrx.frames import (
    EVENTS,
    Body,
    Command,
    CommandAck,
    CommandNak,
    Display,
    ErrorEvent,
    HandsetHello,
    Hello,
    Pairing,
    PollClose,
    PollOpen,
    PressEvent,
    PressReply,
    ReceiverInfo,
    SetChannel,
    Status,
    StatusRequest,
)
from drivers.arsrx.spec import (
    HOST_SILENCE_S,
    Capability,
    DisplayTarget,
    ErrorCode,
    FrameType,
    NakCode,
    Reason,
    RxState,
)
from firmware_sim import arsrx
from firmware_sim.arsrx import ArsRxSimulator
from firmware_sim.link import SimEndpoint
from firmware_sim.radio import PING_KEY, AckReason, Air, RfConditions, Transmission
from firmware_sim.registry import load_simulator


class NullEndpoint(SimEndpoint):
    """A link that goes nowhere: these tests drive the firmware through on_host and encode."""

    url = "null://"

    async def send(self, data: bytes) -> None:
        pass

    async def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Host:
    """Plays the host: numbers its frames and decodes what the receiver answers."""

    def __init__(self, sim: ArsRxSimulator) -> None:
        self.sim = sim
        self._seq = itertools.count()

    def send(self, body: Command) -> list[Body]:
        return self.raw(Frame(next(self._seq) % 256, body).to_bytes())

    def raw(self, wire: bytes) -> list[Body]:
        return bodies(self.sim.on_host(wire))


def bodies(data: bytes) -> list[Body]:
    out = []
    for item in FrameDecoder(EVENTS).feed(data):
        assert isinstance(item, Frame), item
        out.append(item.body)
    return out


def make_sim(**kwargs: object) -> tuple[ArsRxSimulator, Host, Clock]:
    clock = Clock()
    air = Air(RfConditions(loss=0.0, ack_loss=0.0), seed=1, host_acks=True)
    sim = ArsRxSimulator(NullEndpoint(), air, clock=clock, **kwargs)  # type: ignore[arg-type]
    return sim, Host(sim), clock


def configured() -> tuple[ArsRxSimulator, Host, Clock]:
    sim, host, clock = make_sim()
    host.send(Hello())
    return sim, host, clock


def heard(sim: ArsRxSimulator, handset: str, key: str, at: float = 0.0) -> list[Transmission]:
    sim.air.press(handset, key, at)
    return sim.air.advance(at)


# Boot and handshake.


def test_module_is_registered_with_host_acks() -> None:
    module = load_simulator("arsrx")
    assert (module.FAMILY, module.ID_FAMILY, module.HOST_ACKS, module.ONE_WAY) == (
        "arsrx", "arsrx", True, False,
    )  # fmt: skip
    with pytest.raises(ValueError, match="host_acks=True"):
        arsrx.create_simulator(NullEndpoint(), Air(host_acks=False))


def test_boots_unconfigured_and_forwards_nothing() -> None:
    sim, host, _ = make_sim()
    assert sim.banner() == b"\x00"
    assert sim.state is RxState.UNCONFIGURED
    (tx,) = heard(sim, "12AB0F", "A")
    assert sim.encode(tx) == b""
    assert sim.heard == 1
    assert host.send(SetChannel(3)) == [
        CommandNak(0, FrameType.SET_CHANNEL, NakCode.NOT_CONFIGURED)
    ]
    assert host.send(PressReply("12AB0F", tx.seq, Reason.ACCEPTED)) == []
    assert sim.air.outcome("12AB0F") == []


def test_status_request_is_answered_in_every_state() -> None:
    _sim, host, _ = make_sim()
    status, ack = host.send(StatusRequest())
    assert isinstance(status, Status)
    assert status.state is RxState.UNCONFIGURED
    assert ack == CommandAck(0, FrameType.STATUS_REQUEST)


def test_hello_answers_info_then_ack_and_starts_a_session() -> None:
    sim, host, _ = make_sim()
    info, ack = host.send(Hello(1, 1))
    assert isinstance(info, ReceiverInfo)
    assert (info.version, info.min_version, info.max_version, info.channel) == (1, 1, 1, 41)
    assert info.capabilities == arsrx.CAPABILITIES
    assert info.firmware == arsrx.FIRMWARE
    assert ack == CommandAck(0, FrameType.HELLO)
    assert sim.state is RxState.IDLE


def test_hello_without_a_common_version_is_refused() -> None:
    sim, host, _ = make_sim(versions=(2, 3))
    info, nak = host.send(Hello(1, 1))
    assert isinstance(info, ReceiverInfo)
    assert (info.version, info.max_version) == (0, 3)
    assert nak == CommandNak(0, FrameType.HELLO, NakCode.UNSUPPORTED_VERSION)
    assert sim.state is RxState.UNCONFIGURED
    info, ack = host.send(Hello(1, 2))
    assert isinstance(info, ReceiverInfo)
    assert info.version == 2
    assert isinstance(ack, CommandAck)


def test_a_new_hello_closes_polling_and_pairing() -> None:
    sim, host, _ = configured()
    host.send(PollOpen(4, 5))
    host.send(Pairing(True))
    host.send(Hello())
    assert (sim.state, sim.pairing, sim.round) == (RxState.IDLE, False, 0)


# Commands in a session.


def test_commands_change_state_and_are_acknowledged() -> None:
    sim, host, _ = configured()
    assert host.send(PollOpen(7, 4)) == [CommandAck(1, FrameType.POLL_OPEN)]
    assert (sim.state, sim.round, sim.options) == (RxState.POLLING, 7, 4)
    assert host.send(SetChannel(76)) == [CommandAck(2, FrameType.SET_CHANNEL)]
    assert host.send(Pairing(True)) == [CommandAck(3, FrameType.PAIRING)]
    assert host.send(Display(DisplayTarget.HANDSETS, "Vote now")) == [
        CommandAck(4, FrameType.DISPLAY)
    ]
    assert host.send(PollClose(7)) == [CommandAck(5, FrameType.POLL_CLOSE)]
    assert (sim.state, sim.channel, sim.pairing) == (RxState.IDLE, 76, True)
    assert sim.display == {DisplayTarget.HANDSETS: "Vote now"}


def test_commands_it_cannot_carry_out_are_refused() -> None:
    sim, host, _ = make_sim(capabilities=Capability.RSSI)
    host.send(Hello())
    assert host.send(SetChannel(126)) == [CommandNak(1, FrameType.SET_CHANNEL, NakCode.BAD_CHANNEL)]
    assert host.send(Display(DisplayTarget.RECEIVER, "x")) == [
        CommandNak(2, FrameType.DISPLAY, NakCode.UNSUPPORTED)
    ]
    assert sim.channel == 41


@pytest.mark.parametrize(
    ("frame_type", "payload", "version", "code"),
    [
        (0x30, b"", 1, NakCode.UNKNOWN_COMMAND),
        (FrameType.STATUS, bytes(30), 1, NakCode.UNKNOWN_COMMAND),
        (FrameType.PAIRING, b"\x02", 1, NakCode.BAD_PAYLOAD),
        (FrameType.PAIRING, b"\x01", 2, NakCode.UNSUPPORTED_VERSION),
    ],
    ids=["unknown", "event-type", "bad-payload", "version"],
)
def test_sound_unreadable_commands_are_nakked(
    frame_type: int, payload: bytes, version: int, code: NakCode
) -> None:
    sim, host, _ = configured()
    head = bytes((version, frame_type, 9, len(payload))) + payload
    wire = cobs_encode(head + crc16(head).to_bytes(2, "big")) + b"\x00"
    assert host.raw(wire) == [CommandNak(9, frame_type, code)]
    assert sim.host_errors == 1


def test_corrupted_host_frames_are_counted_and_not_answered() -> None:
    sim, host, _ = configured()
    bad = bytearray(Frame(5, SetChannel(3)).to_bytes())
    bad[4] ^= 0x10
    assert host.raw(b"\x00" + bytes(bad)) == []
    assert sim.host_errors == 1
    assert sim.channel == 41


def test_muted_commands_are_heard_and_never_answered() -> None:
    sim, host, _ = configured()
    sim.muted = {FrameType.POLL_OPEN}
    assert host.send(PollOpen(1, 4)) == []
    assert sim.commands[FrameType.POLL_OPEN] == 1
    assert sim.state is RxState.IDLE


# The radio side.


def test_heard_press_goes_to_the_host_and_the_reply_to_the_handset() -> None:
    sim, host, _ = configured()
    (tx,) = heard(sim, "12AB0F", "C")
    (press,) = bodies(sim.encode(tx))
    assert press == PressEvent("12AB0F", tx.seq, "C", tx.rssi, tx.battery)
    assert host.send(PressReply("12AB0F", tx.seq, Reason.INVALID_KEY)) == []  # never ACKed
    assert sim.air.outcome("12AB0F") == [AckReason.INVALID_KEY]
    assert sim.replies == {Reason.INVALID_KEY: 1}
    assert sim.air.advance(60.0) == []  # the handset stopped: nothing more on the air


@pytest.mark.parametrize("pairing", [False, True])
def test_hellos_are_answered_by_the_receiver_and_reported(pairing: bool) -> None:
    sim, host, _ = configured()
    host.send(Pairing(pairing))
    (tx,) = heard(sim, "00A0FF", PING_KEY)
    (hello,) = bodies(sim.encode(tx))
    assert hello == HandsetHello("00A0FF", pairing, tx.rssi, tx.battery)
    assert sim.air.outcome("00A0FF") == [AckReason.ACCEPTED]


def test_status_carries_state_and_counters() -> None:
    sim, host, clock = configured()
    host.send(PollOpen(3, 5))
    for tx in heard(sim, "12AB0F", "A"):
        sim.encode(tx)
    host.raw(b"\x00\x01\x02\x03\x00")  # a bad frame from the host
    clock.now += 42
    status = sim.status()
    assert (status.state, status.round, status.channel) == (RxState.POLLING, 3, 41)
    assert (status.heard, status.host_errors, status.uptime_s) == (1, 1, 42)


def test_error_events_are_encoded_with_the_codec() -> None:
    sim, _, _ = configured()
    assert bodies(sim.report_error(ErrorCode.CARRIER, "carrier")) == [
        ErrorEvent(ErrorCode.CARRIER, "carrier")
    ]


def test_a_silent_host_sends_the_receiver_back_to_unconfigured() -> None:
    sim, host, clock = configured()
    host.send(PollOpen(1, 4))
    clock.now += HOST_SILENCE_S - 0.1
    sim.check_host()
    assert sim.state is RxState.POLLING
    host.send(StatusRequest())  # any sound frame counts as the host being there
    clock.now += HOST_SILENCE_S + 0.1
    sim.check_host()
    assert sim.status().state is RxState.UNCONFIGURED
    (tx,) = heard(sim, "12AB0F", "A")
    assert sim.encode(tx) == b""
