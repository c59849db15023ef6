"""``arsbridge sim``: a simulated receiver on a TCP port that the real driver reads."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from drivers.base import Press
from drivers.turning.receiver import TurningReceiver


async def test_sim_serves_a_receiver_that_the_driver_reads() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arsbridge.cli",
        "sim",
        "--driver",
        "turning",
        "--link",
        "tcp",
        "--handsets",
        "30",
        "--every-s",
        "20",
        "--speed",
        "20",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(30):
            first = (await proc.stdout.readline()).decode()
            assert first.startswith("simulated turning receiver at socket://127.0.0.1:")
            url = first.split(" at ")[1].strip()
            rx = TurningReceiver("rx1", url)
            await rx.open()
            presses: list[Press] = []
            try:
                async for event in rx.events():
                    if isinstance(event, Press):
                        presses.append(event)
                        if len(presses) >= 20:
                            break
            finally:
                await rx.close()
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 10)
    assert len({p.handset for p in presses}) > 5
    assert all(p.key in "ABCDE" for p in presses)


async def test_ctrl_c_with_a_host_connected_stops_the_simulator_without_a_traceback() -> None:
    command = str(Path(sys.executable).with_name("arsbridge"))  # the installed command
    proc = await asyncio.create_subprocess_exec(
        *(command, "sim", "--driver", "iskipper", "--link", "tcp", "--handsets", "30"),
        *("--every-s", "20", "--speed", "20"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            first = (await proc.stdout.readline()).decode()
            host, port = first.split("socket://")[1].strip().rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            assert await reader.readuntil(b"\n")  # the receiver is talking to its host
    finally:
        proc.send_signal(signal.SIGINT)
        status = await asyncio.wait_for(proc.wait(), 10)
    async with asyncio.timeout(10):
        await reader.read()  # up to the end: the port went away with the simulator
    writer.close()
    errors = (await proc.stderr.read()).decode()
    assert status == 130
    assert errors == ""
