"""``arsbridge sim``: a simulated receiver on a pty or TCP port until interrupted."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.link import open_endpoint
from firmware_sim.radio import Air, RfConditions
from firmware_sim.receiver import stream_bytes
from firmware_sim.registry import load_simulator


@dataclass(frozen=True, slots=True)
class SimOptions:
    driver: str
    link: str = "pty"
    port: int = 0
    handsets: int = 220
    every_s: float = 40.0
    loss: float = 0.1
    speed: float = 1.0
    replay: Path | None = None
    seed: int = 1


async def run_sim(opts: SimOptions) -> None:
    """Serve the simulated receiver, printing the URL a service should open."""
    module = load_simulator(opts.driver)
    capture = opts.replay.read_bytes() if opts.replay is not None else None
    endpoint = await open_endpoint(opts.link, opts.port)
    async with endpoint:
        print(f"simulated {opts.driver} receiver at {endpoint.url}", flush=True)
        if capture is not None:
            print(f"sending {opts.replay} ({len(capture)} bytes) at {opts.speed:g}x", flush=True)
            await stream_bytes(endpoint, capture, baudrate=module.BAUDRATE, speed=opts.speed)
            print("capture sent; the port stays open until Ctrl-C", flush=True)
            await asyncio.Event().wait()
        air = Air(
            RfConditions(loss=opts.loss),
            seed=opts.seed,
            host_acks=module.HOST_ACKS,
            one_way=module.ONE_WAY,
        )
        sim = module.create_simulator(endpoint, air, speed=opts.speed)
        audience = Audience(
            make_handset_ids(opts.handsets, module.ID_FAMILY, seed=opts.seed), seed=opts.seed
        )
        playing = asyncio.create_task(sim.run(), name=f"sim-{opts.driver}")
        try:
            while True:
                plan = audience.plan("ABCDE", duration_s=opts.every_s * 0.75)
                sim.load(plan)
                print(f"audience votes: {plan.voters} voters intend {plan.expected()}", flush=True)
                await asyncio.sleep(opts.every_s / opts.speed)
        finally:
            playing.cancel()
            await asyncio.gather(playing, return_exceptions=True)
