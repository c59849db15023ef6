"""MQTT topic names under the configurable base (default ``ars``); see docs/mqtt.md."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic the service publishes or subscribes to, built from one base."""

    base: str = "ars"

    def bridge_state(self, bridge: str) -> str:
        return f"{self.base}/bridge/{bridge}/state"

    def request(self, bridge: str, cmd: str) -> str:
        return f"{self.base}/bridge/{bridge}/request/{cmd}"

    def response(self, bridge: str, cmd: str) -> str:
        return f"{self.base}/bridge/{bridge}/response/{cmd}"

    def bridge_handsets(self, bridge: str) -> str:
        return f"{self.base}/bridge/{bridge}/handsets"

    def bridge_handset_changes(self, bridge: str) -> str:
        return f"{self.base}/bridge/{bridge}/handset_changes"

    def bridge_acked(self, bridge: str) -> str:
        return f"{self.base}/bridge/{bridge}/acked"

    @property
    def tally_state(self) -> str:
        return f"{self.base}/tally/state"

    @property
    def agenda(self) -> str:
        return f"{self.base}/agenda"

    @property
    def roster(self) -> str:
        return f"{self.base}/roster"

    def rx_availability(self, receiver: str) -> str:
        return f"{self.base}/rx/{receiver}/availability"

    def rx_votes(self, receiver: str) -> str:
        return f"{self.base}/rx/{receiver}/votes"

    def round_state(self, round_id: str) -> str:
        return f"{self.base}/round/{round_id}/state"

    @property
    def round_current(self) -> str:
        return f"{self.base}/round/current"

    def round_tally(self, round_id: str) -> str:
        return f"{self.base}/round/{round_id}/tally"

    def round_results(self, round_id: str) -> str:
        return f"{self.base}/round/{round_id}/results"

    def round_turnout(self, round_id: str) -> str:
        """Turnout by table of an anonymous round, from the bridge (who voted, not what)."""
        return f"{self.base}/round/{round_id}/turnout"

    # Subscriptions.

    @property
    def all_votes(self) -> str:
        return f"{self.base}/rx/+/votes"

    @property
    def all_round_turnouts(self) -> str:
        return f"{self.base}/round/+/turnout"

    @property
    def all_round_states(self) -> str:
        return f"{self.base}/round/+/state"

    def requests(self, bridge: str) -> str:
        return f"{self.base}/bridge/{bridge}/request/+"

    def split(self, topic: str) -> list[str]:
        """The levels of ``topic`` below the base, or an empty list when it is not ours."""
        prefix = self.base + "/"
        if not topic.startswith(prefix):
            return []
        return topic[len(prefix) :].split("/")
