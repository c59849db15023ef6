"""Real recorded traffic through the whole service: a pty, the serial driver, the journal,
the MQTT broker (embedded and Mosquitto) and the tally engine give the published tally."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.tally.replay import replay
from firmware_sim.link import PtyEndpoint
from firmware_sim.receiver import stream_bytes
from tests.conftest import service_settings
from tests.e2e.harness import running

QUESTIONS = ["q2", "q3"]


def published_tally(path: Path) -> tuple[int, dict[str, int]]:
    lines = path.read_text().splitlines()
    voters = int(lines[0].split(":")[1])
    counts = {k: int(v) for k, v in (line.split() for line in lines[1:] if line.strip())}
    return voters, counts


@pytest.mark.parametrize("question", QUESTIONS)
async def test_a_real_capture_streamed_over_a_pty_gives_the_published_tally(
    tmp_path: Path, broker: str, captures: Path, question: str
) -> None:
    folder = captures / "iskipper-2017-04-13"
    data = (folder / f"2017-04-13-{question}.txt").read_bytes()
    voters, counts = published_tally(folder / f"2017-04-13-{question}-tally.txt")
    presses = replay("iskipper", data).presses
    async with PtyEndpoint() as endpoint:
        settings = service_settings(
            tmp_path,
            broker,
            receivers=[{"name": "rx1", "driver": "iskipper", "url": endpoint.url}],
        )
        async with running(settings) as svc:
            core = svc.service.core
            assert core is not None
            await svc.until(lambda: core.status["rx1"].online, "receiver rx1 online")
            r = await svc.http.post(
                f"/api/v1/rounds/{question}/open", json={"title": f"lecture {question}"}
            )
            assert r.status_code == 200, r.text

            await stream_bytes(endpoint, data, speed=20)
            await svc.until(
                lambda: sum(core.decisions.values()) == presses, f"all {presses} presses journaled"
            )
            r = await svc.http.post(f"/api/v1/rounds/{question}/close")
            assert r.status_code == 200, r.text

            topic = svc.service.topics.round_results(question)
            results = await svc.retained(topic, lambda body: body.get("final") is True)
            tally = (await svc.http.get(f"/api/v1/rounds/{question}/tally")).json()

    for figures in (results, tally):
        assert figures["voters"] == voters
        assert figures["counts"] == counts
        assert figures["final"] is True
    assert core.decisions["counted"] == voters
    assert core.decisions["duplicate"] > 0
    assert core.decisions["changed"] > 0
