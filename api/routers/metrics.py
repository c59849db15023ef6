"""``GET /metrics``: the service's counters for Prometheus, read when scraped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.limits import BodyLimits
from api.server import GuardedH11
from bridge.press.watch import HANDSET_FLAGS, RECEIVER_FLAGS
from bridge.service import Service

router = APIRouter(tags=["metrics"])


class ServiceCollector(Collector):
    """Turns the service's own counters into Prometheus metrics at scrape time."""

    def __init__(self, service: Service) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        svc = self._service
        yield GaugeMetricFamily(
            "arsbridge_mqtt_connected",
            "1 while the broker link is up",
            value=int(svc.link.connected.is_set()),
        )
        yield CounterMetricFamily(
            "arsbridge_mqtt_connects", "connections made to the broker", value=svc.link.connects
        )
        yield GaugeMetricFamily(
            "arsbridge_mqtt_subscriptions_missing",
            "subscriptions the broker refused on this connection, asked for again until granted",
            value=len(svc.link.missing),
        )
        yield CounterMetricFamily(
            "arsbridge_mqtt_subscriptions_refused",
            "subscriptions the broker refused or left unanswered",
            value=svc.link.refused,
        )
        yield GaugeMetricFamily(
            "arsbridge_stream_clients",
            "browsers following the live state",
            value=svc.mirror.clients,
        )
        yield CounterMetricFamily(
            "arsbridge_http_bodies_refused",
            "request bodies refused with 413 as over their size limit",
            value=BodyLimits.refused,
        )
        yield CounterMetricFamily(
            "arsbridge_http_connections_cut",
            "connections closed half-open (headers not done in time) or over the cap",
            value=GuardedH11.cut,
        )
        rejected = CounterMetricFamily(
            "arsbridge_bus_rejected",
            "messages dropped from the bus (forged, malformed, out of line), by reason",
            labels=["reason"],
        )
        for reason, n in sorted(svc.guard.by_reason.items()):
            rejected.add_metric([reason], n)
        yield rejected
        core, journal, publisher = svc.core, svc.journal, svc.publisher
        if core is not None and journal is not None and publisher is not None:
            decisions = CounterMetricFamily(
                "arsbridge_presses", "presses journaled, by decision", labels=["decision"]
            )
            for decision, n in sorted(core.decisions.items()):
                decisions.add_metric([decision], n)
            yield decisions
            online = GaugeMetricFamily(
                "arsbridge_receiver_online",
                "1 while a receiver is open",
                labels=["receiver", "family"],
            )
            frames = CounterMetricFamily(
                "arsbridge_receiver_frames",
                "frames read from a receiver, by kind",
                labels=["receiver", "kind"],
            )
            for name, status in core.status.items():
                online.add_metric([name, status.family], int(status.online))
                receiver = core.receivers.get(name)
                if receiver is not None:
                    st = receiver.stats
                    for kind, n in (
                        ("press", st.presses),
                        ("rejected", st.rejected),
                        ("noise", st.noise),
                        ("any", st.frames),
                    ):
                        frames.add_metric([name, kind], n)
            yield online
            yield frames
            yield GaugeMetricFamily(
                "arsbridge_handsets_heard", "handsets heard this session", value=len(core.handsets)
            )
            yield from _flags(core.watch.document(), core.watch.raised)
            yield CounterMetricFamily(
                "arsbridge_journal_commits", "journal group commits", value=journal.commits
            )
            yield CounterMetricFamily(
                "arsbridge_journal_write_failures",
                "journal commits that failed and were retried",
                value=journal.failures,
            )
            yield GaugeMetricFamily(
                "arsbridge_journal_failed",
                "1 while the journal cannot write (presses held, nothing acknowledged)",
                value=int(journal.health.failed),
            )
            yield GaugeMetricFamily(
                "arsbridge_journal_not_durable",
                "presses received but not yet committed to the journal",
                value=journal.pending,
            )
            if journal.health.free_bytes is not None:
                yield GaugeMetricFamily(
                    "arsbridge_journal_free_bytes",
                    "free space on the journal's file system",
                    value=journal.health.free_bytes,
                )
            yield GaugeMetricFamily(
                "arsbridge_publish_backlog",
                "presses journaled but not yet sent to the broker",
                value=publisher.backlog,
            )
            yield CounterMetricFamily(
                "arsbridge_vote_batches_sent", "vote batches published", value=publisher.batches
            )
            yield GaugeMetricFamily(
                "arsbridge_unacknowledged",
                "journal ids sent but not yet acknowledged durable by the tally",
                value=publisher.unacknowledged,
            )
            yield CounterMetricFamily(
                "arsbridge_resends",
                "times unacknowledged presses were sent again",
                value=publisher.resends,
            )
        if svc.ledger is not None:
            yield GaugeMetricFamily(
                "arsbridge_tally_record_failed",
                "1 while the tally cannot write its record of other bridges' presses",
                value=int(bool(svc.ledger.failure)),
            )
        if svc.tally is not None:
            yield CounterMetricFamily(
                "arsbridge_vote_batches_received",
                "vote batches the tally engine took",
                value=svc.tally.batches,
            )
            yield CounterMetricFamily(
                "arsbridge_vote_batch_gaps",
                "vote batches missing from a bridge's sequence",
                value=svc.tally.gaps,
            )


def _flags(doc: dict[str, Any], raised: Mapping[str, int]) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "arsbridge_flags",
        "handsets and receivers flagged now (stuck, jamming, spoofing, battery; errors, "
        "bad_frames, backlog)",
        labels=["scope", "kind"],
    )
    for scope in ("handsets", "receivers"):
        kinds = Counter(f["kind"] for flags in doc[scope].values() for f in flags)
        for kind in HANDSET_FLAGS if scope == "handsets" else RECEIVER_FLAGS:
            up.add_metric([scope.removesuffix("s"), kind], kinds[kind])
    yield up
    total = CounterMetricFamily(
        "arsbridge_flags_raised", "flags raised since the service started", labels=["kind"]
    )
    for kind in (*HANDSET_FLAGS, *RECEIVER_FLAGS):
        total.add_metric([kind], raised.get(kind, 0))
    yield total


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(request.app.state.service))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
