"""Two venues, one event, on a real three-node NATS cluster: each venue's bridge on its own
broker node, the central service (tally and api) on the third. A node is killed mid-round, the
bridge that used it is killed and restarted while its node is still down, and the central
service is restarted after the close: the results and the central exports hold every venue's
votes, each once, and so does an offline merge of the venues' journals."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from firmware_sim.arsrx import ArsRxSimulator
from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import AckReason, Air, RfConditions
from tests.conftest import free_port
from tests.e2e.test_split_roles import until, until_up, watching
from tests.natscluster import nats_cluster

SPEED = 10.0  # simulated seconds per wall-clock second
ROUND = "venues"


class Process:
    """One ``arsbridge`` process with a config of its own."""

    def __init__(self, tmp: Path, name: str, command: str, text: str) -> None:
        self.tmp, self.name, self.command = tmp, name, command
        self.config = tmp / f"{name}.toml"
        self.config.write_text(text)
        self.journal = tmp / f"{name}.sqlite3"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "arsbridge.cli",
            self.command,
            "--config",
            str(self.config),
            cwd=self.tmp,
            env=os.environ,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(self.tmp / f"{self.name}.log").open("ab"),
        )

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None

    def journaled(self) -> tuple[int, dict[str, int]]:
        db = sqlite3.connect(self.journal)
        try:
            (last,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM presses").fetchone()
            rows = db.execute("SELECT decision, COUNT(*) FROM presses GROUP BY decision")
            return int(last), {str(d): int(n) for d, n in rows}
        finally:
            db.close()


def config(base: str, url: str, bridge: str, extra: str = "") -> str:
    return (
        f'bridge_id = "{bridge}"\n[mqtt]\nurl = "{url}"\nbase = "{base}"\n'
        "batch_interval_ms = 10\nresend_after_s = 1.0\nresend_max_s = 2.0\n"
        "reconnect_min_s = 0.1\nreconnect_max_s = 0.5\nconnect_timeout_s = 60.0\n"
        "[rounds]\ngrace_s = 0.3\n[supervisor]\nbackoff_min_s = 0.05\n" + extra
    )


async def test_two_venues_on_a_nats_cluster_lose_nothing(tmp_path: Path) -> None:
    plans = [
        Audience(make_handset_ids(110, "arsrx", seed=41 + i), seed=51 + i).plan(
            "ABCDE", duration_s=20.0, change_rate=0.25
        )
        for i in range(2)
    ]
    assert not set(plans[0].answers()) & set(plans[1].answers())
    expected = {k: plans[0].expected()[k] + plans[1].expected()[k] for k in "ABCDE"}
    voters = plans[0].voters + plans[1].voters
    base = f"arstest-{os.getpid()}-{free_port()}"
    api_port = free_port()
    async with (
        nats_cluster(tmp_path / "nats") as cluster,
        PtyEndpoint() as hall_a,
        PtyEndpoint() as hall_b,
    ):
        central = Process(
            tmp_path,
            "central",
            "serve",
            config(
                base,
                cluster.url(2, 0),
                "central",
                f'[api]\nport = {api_port}\n[bus]\nbridges = ["central", "venue1", "venue2"]\n',
            ),
        )
        venues = [
            Process(
                tmp_path,
                f"venue{i + 1}",
                "bridge",
                config(
                    base,
                    cluster.url(i, (i + 1) % 3),
                    f"venue{i + 1}",
                    f'[journal]\npath = "{tmp_path}/venue{i + 1}.sqlite3"\n'
                    f'[[receivers]]\nname = "hall-{"ab"[i]}"\ndriver = "arsrx"\n'
                    f'url = "{endpoint.url}"\n',
                ),
            )
            for i, endpoint in enumerate((hall_a, hall_b))
        ]
        central.config.write_text(
            central.config.read_text() + f'[journal]\npath = "{central.journal}"\n'
        )
        # Handsets keep trying for two simulated minutes: long enough for a bridge restart.
        airs = [
            Air(RfConditions(loss=0.1, give_up_s=120.0), seed=61 + i, host_acks=True)
            for i in range(2)
        ]
        sims = [
            ArsRxSimulator(ep, air, speed=SPEED)
            for ep, air in zip((hall_a, hall_b), airs, strict=True)
        ]
        firmware = [asyncio.create_task(sim.run(), name=f"sim-{i}") for i, sim in enumerate(sims)]
        node3 = cluster.url(2)
        try:
            async with (
                watching(node3, f"{base}/bridge/venue1/acked") as acked1,
                watching(node3, f"{base}/bridge/venue2/acked") as acked2,
                watching(node3, f"{base}/rx/hall-a/availability") as rx_a,
                watching(node3, f"{base}/rx/hall-b/availability") as rx_b,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=5) as http,
            ):
                await central.start()
                await until_up(http)
                r = await http.post(
                    f"/api/v1/rounds/{ROUND}/open", json={"title": "A vote", "timer": False}
                )
                assert r.status_code == 200, r.text
                for venue in venues:
                    await venue.start()
                await until(lambda: rx_a.get("state") == rx_b.get("state") == "online", "halls")
                for sim, plan in zip(sims, plans, strict=True):
                    sim.load(plan)
                await until(lambda: sum(venues[0].journaled()[1].values()) > 50, "venue 1 voting")

                cluster.kill(0)  # venue 1's broker node
                await until(lambda: sum(venues[0].journaled()[1].values()) > 120, "and on")
                await venues[0].stop(signal.SIGKILL)  # and the bridge itself, node still down
                await venues[0].start()

                def answered(i: int) -> bool:
                    air, plan = airs[i], plans[i]
                    return air.done and all(
                        air.outcome(h)[-1:] == [AckReason.ACCEPTED] for h in plan.answers()
                    )

                await until(lambda: answered(0) and answered(1), "every voter's last press")

                def marks() -> list[int]:
                    # The journals as they stand: a restarted bridge may still be reading what
                    # its receiver buffered while it was down (retransmissions, each a duplicate).
                    return [v.journaled()[0] for v in venues]

                await until(
                    lambda: [acked1.get("upto"), acked2.get("upto")] == marks(),
                    "the central tally holds every press of both venues",
                )
                r = await http.post(f"/api/v1/rounds/{ROUND}/close")
                assert r.status_code == 200, r.text
                live = await results(http)

                await central.stop()
                await central.start()
                await until_up(http)
                restarted = await results(http)
                votes_csv = (await http.get(f"/api/v1/rounds/{ROUND}/votes.csv")).text
                decisions = [v.journaled()[1] for v in venues]
                resent = [(tmp_path / f"{v.name}.log").read_text().count("again (") for v in venues]
        finally:
            for process in (central, *venues):
                await process.stop()
            for task in firmware:
                task.cancel()
            await asyncio.gather(*firmware, return_exceptions=True)

    central_export = export(tmp_path / "central-export", central.journal)
    merged = export(tmp_path / "merged", *(v.journal for v in venues))
    print(
        f"venue journals {[sum(d.values()) for d in decisions]} presses, resent {resent} times, "
        f"duplicates "
        f"{[d.get('duplicate', 0) for d in decisions]}, counted "
        f"{[d.get('counted', 0) + d.get('changed', 0) for d in decisions]}; "
        f"results {live['voters']} voters"
    )
    for doc in (live, restarted):
        assert doc["voters"] == voters
        assert doc["counts"] == expected
    rows = list(csv.DictReader(io.StringIO(votes_csv)))
    assert {row["bridge"] for row in rows} == {"venue1", "venue2"}
    for exported in (central_export, merged):
        assert exported["voters"] == voters
        assert exported["counts"] == expected


async def results(http: httpx.AsyncClient) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while (r := await http.get(f"/api/v1/rounds/{ROUND}/results")).status_code != 200:  # noqa: ASYNC110 - polling a process over HTTP
            await asyncio.sleep(0.05)
    doc: dict[str, Any] = r.json()
    return doc


def export(out: Path, *journals: Path) -> dict[str, Any]:
    """``arsbridge export`` of ``journals`` (the first one's rounds), its round's results."""
    args = [a for j in journals for a in ("--journal", str(j))]
    subprocess.run(
        [sys.executable, "-m", "arsbridge.cli", "export", *args, "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    doc = json.loads((out / "results.json").read_text())
    (mine,) = [r for r in doc["results"] if r["round"] == ROUND]
    return mine  # type: ignore[no-any-return]
