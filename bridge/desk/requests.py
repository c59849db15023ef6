"""Commands over MQTT: ``ars/bridge/{bridge}/request/{cmd}`` answered on ``.../response/{cmd}``.

For software that speaks MQTT and not HTTP (a show-control system, a second console): the
same round commands as the REST API, with a ``transaction`` echoed in the answer::

    request/open      {"round": "infrastructure", "duration_s": 180, "transaction": 7}
    response/open     {"status": "ok", "data": {...round state...}, "transaction": 7}
    response/close    {"status": "error", "error": "round 'x' does not exist", ...}

With ``[api] token`` set, a request carries it as ``"token"``, as REST calls do.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

import aiomqtt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge.desk.controller import RoundError
from bridge.desk.event_desk import EventDesk
from bridge.event.rounds import PhaseName, RoundState
from bridge.mqtt.guard import BusGuard, Rejected
from bridge.mqtt.link import MqttLink, payload_bytes
from bridge.mqtt.topics import Topics

log = logging.getLogger(__name__)


class RoundCommand(BaseModel):
    """The arguments of a round command."""

    model_config = ConfigDict(extra="forbid")

    round: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    transaction: Any = None
    duration_s: float | None = Field(None, gt=0, le=86400)
    timer: bool = True
    seconds: float = Field(30.0, gt=0, le=3600)
    phase: PhaseName | None = None
    revealed: bool = True
    # A round that is no agenda theme is created by naming it (``create``, or ``open`` with it).
    title: str | None = Field(None, min_length=1, max_length=200)

    def fields(self) -> dict[str, Any]:
        return {"title": self.title} if self.title is not None else {}


def _commands(desk: EventDesk) -> dict[str, Callable[[RoundCommand], RoundState]]:
    c = desk.controller
    return {
        "create": lambda a: c.create(a.round, **a.fields()),
        "open": lambda a: c.open(a.round, duration_s=a.duration_s, timer=a.timer, **a.fields()),
        "close": lambda a: c.close(a.round),
        "extend": lambda a: c.extend(a.round, a.seconds),
        "pause": lambda a: c.pause(a.round),
        "resume": lambda a: c.resume(a.round),
        "reset": lambda a: c.reset(a.round),
        "revote": lambda a: c.revote(a.round),
        "reveal": lambda a: c.reveal(a.round, a.revealed),
        "phase": lambda a: c.set_phase(a.round, a.phase or PhaseName.PRESENTATION),
        "state": lambda a: c.get(a.round),
    }


class RequestHandler:
    """Answers the round commands sent to this bridge over MQTT."""

    def __init__(
        self,
        link: MqttLink,
        topics: Topics,
        bridge_id: str,
        desk: EventDesk,
        *,
        token: str | None = None,
        guard: BusGuard | None = None,
    ) -> None:
        self._token = token.encode() if token else None
        self._guard = guard or BusGuard()
        self._link = link
        self._topics = topics
        self._bridge = bridge_id
        self._commands = _commands(desk)
        link.subscribe(topics.requests(bridge_id), self.handle)

    async def handle(self, message: aiomqtt.Message) -> None:
        cmd = str(message.topic).rsplit("/", 1)[-1]
        transaction: Any = None
        try:
            raw = json.loads(payload_bytes(message))
            transaction = raw.get("transaction") if isinstance(raw, dict) else None
            self._authorise(raw)
            state = self._run(cmd, raw)
            answer: dict[str, Any] = {"status": "ok", "data": state.model_dump(mode="json")}
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            answer = {"status": "error", "error": problems}
        except Rejected as exc:
            self._guard.reject(str(message.topic), exc)
            answer = {"status": "error", "error": exc.detail}
        except (RoundError, ValueError, TypeError) as exc:
            answer = {"status": "error", "error": str(exc)}
        answer["transaction"] = transaction
        await self._link.publish(
            self._topics.response(self._bridge, cmd), json.dumps(answer), qos=1
        )

    def _authorise(self, raw: object) -> None:
        """With a token configured, take it out of the request or refuse the request."""
        given = raw.pop("token", "") if isinstance(raw, dict) else ""
        if self._token is None:
            return
        if not hmac.compare_digest(str(given).encode(), self._token):
            raise Rejected(
                "request without the token",
                "this needs the API token ([api] token, ARS_API_TOKEN) as 'token'",
            )

    def _run(self, cmd: str, raw: object) -> RoundState:
        """Carry out one command; raises with the message the answer carries."""
        if not isinstance(raw, dict):
            raise TypeError("the request must be a JSON object")
        command = self._commands.get(cmd)
        if command is None:
            raise ValueError(
                f"unknown command {cmd!r}; commands: {', '.join(sorted(self._commands))}"
            )
        if cmd == "phase" and "phase" not in raw:
            raise ValueError("phase needs a 'phase': presentation, discussion, voting or results")
        return command(RoundCommand.model_validate(raw))
