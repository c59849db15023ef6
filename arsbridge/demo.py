"""``arsbridge demo``: the whole chain on one machine, with nothing to install or plug in.

An embedded broker, a simulated iSkipper receiver on a pseudo-terminal (read through the
real serial driver), the example summit's agenda and its 220 delegates at tables of seven,
each paired with a simulated handset, the API, and the themes voted on one after another
(with shortened phases), the live tally printed as it moves.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arsbridge.simulation import AGENDA, ROSTER, plan_for
from bridge.event.agenda import load_agenda
from bridge.event.roster_files import load_roster
from bridge.event.rounds import PhaseName, RoundStatus
from bridge.press.journal import lock_writer
from bridge.service import Service
from bridge.settings import ReceiverSettings, Settings
from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from firmware_sim.receiver import SimulatedReceiver
from firmware_sim.registry import load_simulator

DRIVER = "iskipper"
RECEIVER = "rx1"
JOURNAL = "demo.sqlite3"  # one journal, replaced by each demo run
SHOW_EVERY_S = 1.0


@dataclass(slots=True)
class DemoPlan:
    """How the demo runs: vote length, pace, radio conditions."""

    voting_s: float = 30.0
    talk_s: float = 3.0  # presentation and discussion, shortened for the demo
    pause_s: float = 5.0
    loss: float = 0.1
    seed: int = 7
    rounds: int = 0  # 0: keep going until stopped


def demo_settings(settings: Settings, url: str, var: Path) -> Settings:
    """``settings`` with the simulated receiver, the example event and a fresh journal."""
    journal = settings.journal.model_copy(update={"path": fresh_journal(var / JOURNAL)})
    event = settings.event.model_copy(update={"agenda": AGENDA, "roster": ROSTER})
    receiver = ReceiverSettings(name=RECEIVER, driver=DRIVER, url=url)
    return settings.model_copy(update={"receivers": [receiver], "journal": journal, "event": event})


def fresh_journal(path: Path) -> Path:
    """Remove the previous demo's journal at ``path``, so that demo runs do not pile up.

    Refused (:class:`JournalError`) while another demo still writes to it.
    """
    lock = lock_writer(path)
    try:
        for old in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            old.unlink(missing_ok=True)
    finally:
        os.close(lock)
    return path


async def simulated_receiver(plan: DemoPlan) -> tuple[PtyEndpoint, SimulatedReceiver]:
    endpoint = PtyEndpoint()
    module = load_simulator(DRIVER)
    air = Air(
        RfConditions(loss=plan.loss),
        seed=plan.seed,
        host_acks=module.HOST_ACKS,
        one_way=module.ONE_WAY,
    )
    return endpoint, module.create_simulator(endpoint, air, speed=1.0)


async def run_rounds(service: Service, url: str, sim: SimulatedReceiver, plan: DemoPlan) -> None:
    """Run the agenda's themes one after another, printing the tally as it moves."""
    desk = service.desk
    assert desk is not None, "the demo runs every role"
    assert service.tally is not None
    agenda = desk.agenda or load_agenda(AGENDA)
    roster = load_roster(ROSTER)
    handsets = make_handset_ids(len(roster), "iclicker", seed=plan.seed)
    for participant, handset in zip(roster.participants(), handsets, strict=True):
        roster.pair(participant.id, handset)
    await desk.set_roster(roster)
    audience = Audience(handsets, seed=plan.seed)
    _say(f"display    {url}/display     (the hall's big screen)")
    _say(f"host       {url}/host        (run the themes, open and close voting)")
    _say(f"technician {url}/technician  (receivers, handsets, pairing)")
    _say(f"API        {url}/api/v1/health   (interactive docs: {url}/docs)")
    _say(f"MQTT       {service.link.host}:{service.link.port}   topics {service.topics.base}/#")
    _say(f"receiver   {RECEIVER} ({DRIVER}) on {sim.endpoint.url}")
    _say(
        f"agenda     {agenda.title}: {len(agenda.themes)} themes, {len(roster)} delegates "
        "paired with simulated handsets"
    )
    _say("Stop with Ctrl-C.\n")

    finals: dict[str, asyncio.Event] = {}

    def on_result(kind: str, snapshot: dict[str, Any]) -> None:
        if kind == "results" and snapshot["round"] in finals:
            finals[snapshot["round"]].set()

    service.tally.listeners.append(on_result)
    played = 0
    while plan.rounds == 0 or played < plan.rounds:
        theme = agenda.themes[played % len(agenda.themes)]
        cycle = played // len(agenda.themes)
        round_id = theme.id if cycle == 0 else f"{theme.id}-{cycle + 1}"
        played += 1
        finals[round_id] = asyncio.Event()
        _say(f"{theme.title}: {theme.question.text}")
        for phase in (PhaseName.PRESENTATION, PhaseName.DISCUSSION):
            desk.controller.set_phase(round_id, phase)
            _say(f"  {phase}")
            await asyncio.sleep(plan.talk_s)
        desk.controller.open(round_id, duration_s=plan.voting_s)
        _say(f"  voting: {url}/api/v1/rounds/{round_id}/tally")
        sim.load(plan_for(audience, theme.question, plan.voting_s * 0.85))
        while desk.controller.get(round_id).status is not RoundStatus.CLOSED:
            _say("    " + _line(service, round_id))
            await asyncio.sleep(SHOW_EVERY_S)
        await finals[round_id].wait()
        _say("  results: " + _line(service, round_id) + "\n")
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
