"""The simulated iSkipper firmware: what it prints, how it answers the host, capture replay."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from drivers.base import KeyFrame, NoiseFrame, PingFrame
from drivers.iskipper.codec import (
    CaptureForm,
    Command,
    FirmwareState,
    IskipperDecoder,
    StatusFrame,
    decode_capture,
    encode_channel,
    encode_command,
)
from drivers.serial_link import open_serial
from firmware_sim import iskipper
from firmware_sim.iskipper import SimulatedIskipper, create_simulator, replay_capture
from firmware_sim.link import PtyEndpoint, SimEndpoint
from firmware_sim.radio import PING_KEY, Air, Transmission
from firmware_sim.registry import load_simulator

TIMEOUT_S = 30.0  # a safety net; nothing here waits for time to pass


def tx(handset: str = "428071B3", key: str = "C") -> Transmission:
    return Transmission(at=0.0, handset=handset, key=key, seq=1, attempt=1, rssi=-60, battery=90)


async def sim(
    form: CaptureForm = "sketch", noise_rate: float = 1.0
) -> tuple[SimulatedIskipper, SimEndpoint]:
    endpoint = PtyEndpoint()
    return SimulatedIskipper(endpoint, Air(), form=form, noise_rate=noise_rate), endpoint


def status(data: bytes) -> list[FirmwareState]:
    return [f.state for f in decode_capture(data) if isinstance(f, StatusFrame)]


def test_module_satisfies_the_simulator_registry() -> None:
    module = load_simulator("iskipper")
    assert module is iskipper
    assert (module.FAMILY, module.ID_FAMILY, module.BAUDRATE) == ("iskipper", "iclicker", 115200)
    assert (module.HOST_ACKS, module.ONE_WAY) == (False, False)


async def test_sketch_prints_debug_line_then_capture_as_in_the_real_capture() -> None:
    rx, endpoint = await sim()
    async with endpoint:
        assert rx.encode(tx()) == b"3D\nCaptured: C (42, 80, 71, B3)\n\n"
        assert rx.encode(tx(key=PING_KEY)) == b"32\nCaptured: P (42, 80, 71, B3)\n\n"
        assert rx.captures_sent == 2
        assert rx.banner() == b"Started promiscous\r\n"


async def test_software_form_prints_its_capture_line_once_capturing() -> None:
    rx, endpoint = await sim("software", noise_rate=0.0)
    async with endpoint:
        assert rx.encode(tx()) == b""  # not told to capture yet: it hears nothing
        rx.on_host(encode_command(Command.CONNECT) + encode_command(Command.CAPTURE))
        assert rx.encode(tx()) == b"Captured,C,428071B3\n"
        assert decode_capture(rx.encode(tx(key=PING_KEY))) == [PingFrame("428071B3")]


async def test_noise_rate_sets_how_many_debug_lines_are_interleaved() -> None:
    rx, endpoint = await sim(noise_rate=0.25)
    async with endpoint:
        data = b"".join(rx.encode(tx()) for _ in range(2000))
    frames = decode_capture(data)
    debug = [f for f in frames if isinstance(f, NoiseFrame) and f.raw]
    assert sum(isinstance(f, KeyFrame) for f in frames) == 2000
    assert 400 < len(debug) < 600


async def test_software_handshake_through_the_production_codec() -> None:
    rx, endpoint = await sim("software")
    async with endpoint:
        assert status(rx.banner()) == [FirmwareState.AWAITING_HOST]
        assert rx.on_host(encode_command(Command.CAPTURE)) == b""  # ignored until connected
        hello = rx.on_host(encode_command(Command.CONNECT))
        assert b"CDCDCDCD" in hello
        assert status(hello) == [FirmwareState.STANDBY]
        reply = rx.on_host(encode_channel("DB") + encode_command(Command.CAPTURE)[:1])
        assert rx.channel == "DB"
        assert status(reply) == [FirmwareState.STANDBY]
        assert status(rx.on_host(b"\0")) == [FirmwareState.CAPTURING]  # the rest of "C\0"
        assert rx.capturing.is_set()
        assert rx.on_host(encode_command(Command.CONNECT)) == b""  # capturing: only stop counts
        stopped = rx.on_host(encode_command(Command.STOP))
        assert status(stopped) == [FirmwareState.STOPPED, FirmwareState.STANDBY]
        assert not rx.capturing.is_set()


async def test_software_form_prompts_repeatedly_until_a_host_connects() -> None:
    rx, endpoint = await sim("software")
    rx.speed = 10_000.0  # the three-second prompt every 0.3 ms
    async with endpoint:
        reader, writer = await open_serial(endpoint.url, iskipper.BAUDRATE)
        running = asyncio.create_task(rx.run())
        try:
            decoder = IskipperDecoder()
            prompts = 0
            async with asyncio.timeout(TIMEOUT_S):
                while prompts < 3:
                    frames = decoder.feed(await reader.read(4096))
                    prompts += frames.count(StatusFrame(FirmwareState.AWAITING_HOST))
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def test_replay_capture_sends_the_file_unchanged(captures: Path) -> None:
    path = captures / "iskipper-2017-04-13" / "2017-04-13-q2.txt"
    data = path.read_bytes()
    async with PtyEndpoint() as endpoint:
        reader, writer = await open_serial(endpoint.url, iskipper.BAUDRATE)
        try:
            sending = asyncio.create_task(replay_capture(endpoint, path, speed=1000.0))
            async with asyncio.timeout(TIMEOUT_S):
                got = await reader.readexactly(len(data))
                await sending
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    assert got == data


async def test_bad_options_are_refused() -> None:
    endpoint = PtyEndpoint()
    async with endpoint:
        with pytest.raises(ValueError, match="form"):
            create_simulator(endpoint, Air(), form="binary")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="noise_rate"):
            create_simulator(endpoint, Air(), noise_rate=1.5)
