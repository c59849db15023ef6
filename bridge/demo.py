"""``arsbridge demo``: the whole chain on one machine, with nothing to install or plug in.

An embedded broker, a simulated iSkipper receiver on a pseudo-terminal (read through the
real serial driver), a simulated audience of 220 delegates, the API and a round after round
of votes, with the live tally printed as it moves.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.questions import Question
from bridge.rounds import RoundStatus
from bridge.service import Service
from bridge.settings import ReceiverSettings, Settings
from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from firmware_sim.receiver import SimulatedReceiver
from firmware_sim.registry import load_simulator

DRIVER = "iskipper"
RECEIVER = "rx1"
SHOW_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class DemoRound:
    round_id: str
    title: str
    question: Question


ROUNDS = (
    DemoRound(
        "infra-1",
        "Which infrastructure project comes first?",
        Question.single("ABCD", ["Ring road", "Light rail", "Harbour", "Broadband"]),
    ),
    DemoRound(
        "biz-1",
        "Where should business support go?",
        Question.single("ABC", ["Start-ups", "Exporters", "Skills"]),
    ),
    DemoRound("energy-1", "Back a regional district-heating plan?", Question.yesno()),
)


@dataclass(slots=True)
class DemoPlan:
    """How the demo runs: audience size, vote length, pace."""

    handsets: int = 220
    voting_s: float = 30.0
    pause_s: float = 8.0
    loss: float = 0.1
    seed: int = 7
    rounds: int = 0  # 0: keep going until stopped


def demo_settings(settings: Settings, url: str, var: Path) -> Settings:
    """``settings`` with the simulated receiver and a journal of its own for this run."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    journal = settings.journal.model_copy(update={"path": var / f"demo-{stamp}.sqlite3"})
    receiver = ReceiverSettings(name=RECEIVER, driver=DRIVER, url=url)
    return settings.model_copy(update={"receivers": [receiver], "journal": journal})


async def simulated_receiver(plan: DemoPlan) -> tuple[PtyEndpoint, SimulatedReceiver]:
    endpoint = PtyEndpoint()
    module = load_simulator(DRIVER)
    air = Air(
        RfConditions(loss=plan.loss),
        seed=plan.seed,
        host_acks=module.HOST_ACKS,
        one_way=module.ONE_WAY,
    )
    sim = module.create_simulator(endpoint, air, speed=1.0)
    return endpoint, sim


async def run_rounds(service: Service, url: str, sim: SimulatedReceiver, plan: DemoPlan) -> None:
    """Open, vote and close rounds one after another, printing the tally as it moves."""
    controller = service.controller
    assert controller is not None, "the demo runs every role"
    ids = make_handset_ids(plan.handsets, "iclicker", seed=plan.seed)
    audience = Audience(ids, seed=plan.seed)
    _say(f"API        {url}/api/v1/health   (interactive docs: {url}/docs)")
    _say(f"MQTT       {service.link.host}:{service.link.port}   topics {service.topics.base}/#")
    _say(f"receiver   {RECEIVER} ({DRIVER}) on {sim.endpoint.url}, {plan.handsets} handsets")
    _say("Stop with Ctrl-C.\n")
    finals: dict[str, asyncio.Event] = {}

    def on_result(kind: str, snapshot: dict[str, Any]) -> None:
        if kind == "results" and snapshot["round"] in finals:
            finals[snapshot["round"]].set()

    assert service.tally is not None, "the demo runs every role"
    service.tally.listeners.append(on_result)
    played = 0
    while plan.rounds == 0 or played < plan.rounds:
        demo = ROUNDS[played % len(ROUNDS)]
        cycle = played // len(ROUNDS)
        round_id = demo.round_id if cycle == 0 else f"{demo.round_id}-{cycle + 1}"
        played += 1
        finals[round_id] = asyncio.Event()
        controller.open(
            round_id, duration_s=plan.voting_s, title=demo.title, question=demo.question
        )
        _say(f"round {round_id}: {demo.title}  {url}/api/v1/rounds/{round_id}/tally")
        sim.load(audience.plan(demo.question.keys, duration_s=plan.voting_s * 0.85))
        while controller.get(round_id).status is not RoundStatus.CLOSED:
            _say("  " + _line(service, round_id))
            await asyncio.sleep(SHOW_EVERY_S)
        await finals[round_id].wait()
        _say("  final: " + _line(service, round_id) + "\n")
        if plan.rounds == 0 or played < plan.rounds:
            await asyncio.sleep(plan.pause_s)


def _line(service: Service, round_id: str) -> str:
    snap = service.tally_snapshot(round_id)
    if snap is None:
        return "waiting for the first press"
    counts = snap.get("counts", {})
    percent = snap.get("percent", {})
    parts = [f"{k} {v} ({percent.get(k, 0):.0f}%)" for k, v in counts.items()]
    left = snap.get("deadline")
    clock = f"{max(0, int(left - time.time()))} s left" if left else snap["status"]
    return f"[{clock}] voters {snap['voters']}  " + "  ".join(parts)


def _say(text: str) -> None:
    print(text, flush=True)
