"""``arsbridge demo --simulate-event``: the example summit, 14:00 to dinner, in seconds.

The whole service runs as at the event (the iSkipper driver on a pseudo-terminal, the
journal, the MQTT broker, the tally engine, the round controller), but on a controlled
clock: the simulation steps simulated time from one event to the next (a transmission, a
timer, the host's next move), sends what the receiver heard, and waits until the service
has taken it before time moves on. So presses carry their simulated times, timers close
voting at their deadlines, and an afternoon runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bridge.clock import ManualClock
from bridge.event.agenda import Agenda, Theme, load_agenda
from bridge.event.questions import LETTERS, Kind, Question
from bridge.event.roster import Roster
from bridge.event.roster_files import load_roster
from bridge.event.rounds import PhaseName, RoundStatus
from bridge.reports.export import Exported, export_event
from bridge.service import Service
from bridge.settings import DEFAULT_CONFIG, Settings
from bridge.tally.results import RESULTS_DOC
from drivers.iskipper.receiver import IskipperReceiver
from firmware_sim.audience import Audience, VotePlan, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions, Transmission
from firmware_sim.registry import load_simulator

AGENDA = DEFAULT_CONFIG.parent / "agendas" / "vestegn-summit.toml"
ROSTER = DEFAULT_CONFIG.parent / "rosters" / "vestegn-summit.csv"
EVENT_DAY = dt.date(2007, 11, 8)
STEP_S = 0.5  # simulated seconds of air sent to the receiver in one go
WAIT_S = 30.0  # longest wall-clock wait for the service to take one step


@dataclass(slots=True)
class EventPlan:
    """How the simulated afternoon goes."""

    seed: int = 2007
    loss: float = 0.05  # RF loss
    abstain_rate: float = 0.04
    change_rate: float = 0.15
    revote: str | None = "labour-market"  # the host calls a re-vote of this theme
    agenda: Path = AGENDA
    roster: Path = ROSTER
    notes: list[str] = field(default_factory=list)


class EventSimulation:
    """The service, a simulated receiver and a paired audience, stepped on one clock."""

    def __init__(
        self, settings: Settings, plan: EventPlan, out: Path, say: Callable[[str], None] = print
    ) -> None:
        self.plan = plan
        self.out = out
        self.say = say
        self.agenda: Agenda = load_agenda(plan.agenda)
        self.roster: Roster = load_roster(plan.roster)
        handsets = make_handset_ids(len(self.roster), "iclicker", seed=plan.seed)
        for participant, handset in zip(self.roster.participants(), handsets, strict=True):
            self.roster.pair(participant.id, handset)
        self.audience = Audience(handsets, seed=plan.seed)
        self.tz = self.agenda.tz or dt.UTC
        start = dt.datetime.combine(EVENT_DAY, dt.time(13, 55), self.tz)
        self.clock = ManualClock(start.timestamp())
        self.journal = out / "journal.sqlite3"
        self.settings = settings.model_copy(
            update={
                "receivers": [],
                "journal": settings.journal.model_copy(update={"path": self.journal}),
                "event": settings.event.model_copy(update={"agenda": None, "roster": None}),
            }
        )
        self._sent = 0

    async def run(self) -> Exported:
        """Run the afternoon and export it; returns what the export wrote."""
        if self.journal.exists():
            raise FileExistsError(17, "an event was simulated here already", str(self.journal))
        self.out.mkdir(parents=True, exist_ok=True)
        module = load_simulator("iskipper")
        air = Air(RfConditions(loss=self.plan.loss), seed=self.plan.seed)
        air.now = self.clock.time()  # the air keeps the event's clock
        async with PtyEndpoint() as endpoint:
            self.sim = module.create_simulator(endpoint, air)
            self.rx = IskipperReceiver("rx1", endpoint.url, clock=self.clock.time)
            async with Service(self.settings, clock=self.clock, receivers=[self.rx]) as svc:
                self.svc = svc
                assert svc.desk is not None
                await svc.desk.set_agenda(self.agenda)
                await svc.desk.set_roster(self.roster)
                await self._until(lambda: svc.core is not None and svc.core.status["rx1"].online)
                for theme in self.agenda.themes:
                    await self._theme(theme)
                await self._settle()
                closed = [
                    s.round for s in svc.desk.controller.all() if s.status is RoundStatus.CLOSED
                ]
                store = svc.desk.store
                await self._until(lambda: all(store.document(RESULTS_DOC + r) for r in closed))
        return export_event(
            self.journal,
            self.out,
            min_segment=self.settings.event.min_segment,
            language=self.settings.event.language,
        )

    # The host's afternoon.

    async def _theme(self, theme: Theme) -> None:
        desk = self.svc.desk
        assert desk is not None
        controller = desk.controller
        start = dt.datetime.combine(EVENT_DAY, theme.starts or dt.time(14), self.tz).timestamp()
        await self._run_until(start)
        for phase in (PhaseName.PRESENTATION, PhaseName.DISCUSSION):
            controller.set_phase(theme.id, phase)
            await self._run_until(
                self.clock.time() + (desk.controller.get(theme.id).planned_s(phase) or 0)
            )
        await self._vote(theme.id, theme, duration_s=None)
        if theme.id == self.plan.revote:
            again = controller.revote(theme.id)
            self.say(f"  the host calls a re-vote: {again.round}")
            await self._vote(again.round, theme, duration_s=60.0)

    async def _vote(self, round_id: str, theme: Theme, duration_s: float | None) -> None:
        controller = self.svc.desk.controller if self.svc.desk else None
        assert controller is not None
        state = (
            controller.open(round_id, duration_s=duration_s)
            if duration_s
            else controller.set_phase(round_id, PhaseName.VOTING)
        )
        assert state.deadline is not None
        self.sim.load(self._audience_plan(theme, state.deadline - self.clock.time()))
        await self._run_until(state.deadline + state.grace_s + 1.0)
        assert controller.get(round_id).status is RoundStatus.CLOSED
        await self._settle()
        results = self.svc.results(round_id)
        assert results is not None, f"no results for {round_id}"
        self.say(
            f"{theme.starts} {round_id:<22} voters {results['voters']:3d}  "
            + "  ".join(f"{k} {_num(v)}" for k, v in results["counts"].items())
        )

    def _audience_plan(self, theme: Theme, window_s: float) -> VotePlan:
        return plan_for(
            self.audience,
            theme.question,
            window_s * 0.9,
            change_rate=self.plan.change_rate,
            abstain_rate=self.plan.abstain_rate,
        )

    # Time.

    async def _run_until(self, target: float) -> None:
        """Step simulated time to ``target``: air, timers and the service, in order."""
        air = self.sim.air
        while self.clock.time() < target:
            pending = self.clock.pending()[:1]
            nxt = min([target, *pending, *([t] if (t := air.next_time()) else [])])
            # The air up to one step ahead, but never past a timer: the service must see
            # every press before a deadline closes voting.
            until = min([target, nxt + STEP_S, *pending])
            heard = air.advance(until)
            if heard:
                self.clock.advance(max(0.0, heard[-1].at - self.clock.time()))
                await self._send(heard)
            if pending and pending[0] <= until:
                await self._settle()
            self.clock.advance(max(0.0, until - self.clock.time()))

    async def _send(self, heard: list[Transmission]) -> None:
        data = b"".join(self.sim.encode(tx) for tx in heard)
        self._sent += len(heard)
        await self.sim.endpoint.send(data)
        await self._until(lambda: self.rx.stats.frames >= self._sent)

    async def _settle(self) -> None:
        """Wait until every press read so far is journaled, published and counted."""
        svc = self.svc
        assert svc.journal is not None
        assert svc.publisher is not None
        assert svc.tally is not None
        # The tally takes each record as the journal commits it (in one process the bridge
        # hands records over directly), so a flushed journal is a counted one.
        await svc.journal.flush()
        await svc.publisher.flush()
        await svc.tally.publish_dirty()

    async def _until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not condition():  # noqa: ASYNC110 - the service exposes counters only
                await asyncio.sleep(0.001)


def plan_for(
    audience: Audience,
    question: Question,
    duration_s: float,
    *,
    change_rate: float = 0.15,
    abstain_rate: float = 0.04,
    ping_rate: float = 0.03,
) -> VotePlan:
    """The audience's round on ``question``, pressed on i>clicker keys (A-E)."""
    picks = {Kind.MULTI: question.max_choices, Kind.RANKING: len(question.weights)}
    # i>clicker remotes have keys A-E; a rating's 1 to 5 are pressed as A to E.
    keys = LETTERS[: len(question.keys)]
    return audience.plan(
        keys,
        duration_s=duration_s,
        change_rate=change_rate,
        abstain_rate=abstain_rate,
        ping_rate=ping_rate,
        picks=picks.get(question.kind, 1),
    )


def _num(value: float) -> str:
    return f"{value:g}"


async def simulate_event(
    settings: Settings, out: Path, plan: EventPlan | None = None, say: Callable[[str], None] = print
) -> Exported:
    """Simulate the example summit into ``out`` and export it there."""
    return await EventSimulation(settings, plan or EventPlan(), out, say).run()
