"""The ``arsbridge`` command: run the service, its roles, the demo, simulators and recounts.

Every failure a person can act on (a bad config file, an unknown driver, a missing serial
port, an unreachable broker) ends with one line that names the problem and the setting,
and exit status 2 for usage and configuration, 1 for everything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from arsbridge import broker_config
from bridge import VERSION
from bridge.event.language import Language
from bridge.event.votes import Policy
from bridge.mqtt.access import CredentialsError
from bridge.mqtt.broker import BrokerStartError
from bridge.mqtt.link import BrokerUnreachable
from bridge.press.journal import JournalError
from bridge.service import ROLES, Service
from bridge.settings import ConfigError, Settings, load_settings
from bridge.tally.replay import replay
from drivers.base import ReceiverError
from drivers.registry import DRIVERS, UnknownDriver, load_driver

log = logging.getLogger("arsbridge")


class NotACapture(Exception):
    """``replay --input`` names a file that holds no capture the driver's codec can read."""


USAGE_ERRORS = (ConfigError, UnknownDriver, NotACapture)
RUN_ERRORS = (
    BrokerUnreachable,
    BrokerStartError,
    CredentialsError,
    JournalError,
    ReceiverError,
    OSError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arsbridge",
        description="Audience-response bridge: RF keypad receivers to a durable journal, "
        "MQTT and live tallies, with a REST API for running voting rounds.",
    )
    parser.add_argument("--version", action="version", version=f"arsbridge {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config",
            type=Path,
            metavar="FILE",
            help="TOML configuration (default: the shipped config/arsbridge.toml); "
            "ARS_* environment variables override it",
        )
        return p

    demo = with_config(
        sub.add_parser(
            "demo",
            help="run everything on one machine: embedded broker, a simulated receiver "
            "and audience of 220, the API, round after round of votes",
            description="Run the whole chain with nothing to install: the embedded MQTT broker, "
            "a simulated iSkipper receiver on a pseudo-terminal read by the real driver, a "
            "simulated audience, the API, and voting rounds one after another. Prints where "
            "to look, then the tally as it moves.",
        )
    )
    demo.add_argument(
        "--voting-s", type=float, default=30.0, help="seconds each vote stays open (default 30)"
    )
    demo.add_argument(
        "--rounds",
        type=int,
        default=0,
        help="stop after this many rounds (default: run until Ctrl-C)",
    )
    demo.add_argument("--port", type=int, help="HTTP port (default: [api] port)")
    demo.add_argument(
        "--simulate-event",
        action="store_true",
        help="instead, run the example summit (8 themes, 220 delegates at "
        "tables of 7) on a controlled clock in under a minute and export it",
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("var/summit"),
        metavar="DIR",
        help="with --simulate-event: where the journal and exports go (default: var/summit)",
    )

    serve = with_config(
        sub.add_parser(
            "serve",
            help="run the service: receivers, journal, tally engine and API",
            description="Run every role in one process: the receivers configured in "
            "[[receivers]], the journal, the vote publisher, the tally engine and the HTTP API.",
        )
    )
    serve.add_argument("--port", type=int, help="HTTP port (default: [api] port)")
    for role, text in (
        ("bridge", "receivers, intake, journal and vote batches only"),
        ("tally", "the tally engine only (subscribes to vote batches)"),
        ("api", "the HTTP API and round controller only"),
    ):
        p = with_config(
            sub.add_parser(
                role,
                help=f"run one role: {text}",
                description=f"Run the {role} role: {text}. Roles "
                "in separate processes meet on the MQTT broker; "
                "set ARS_MQTT_URL to a shared broker.",
            )
        )
        if role == "api":
            p.add_argument("--port", type=int, help="HTTP port (default: [api] port)")

    rp = sub.add_parser(
        "replay",
        help="recount a receiver capture offline through the real codec, dedup and tally",
        description="Decode a capture file with the driver's codec, decide on every press "
        "with the live service's dedup rules and count it. Prints the tally.",
    )
    rp.add_argument("--driver", required=True, help=f"receiver family: {', '.join(DRIVERS)}")
    rp.add_argument("--input", required=True, type=Path, metavar="FILE", help="capture file")
    rp.add_argument(
        "--policy",
        choices=[p.value for p in Policy],
        default="last",
        help="which answer of a handset counts (default: last)",
    )
    rp.add_argument("--json", action="store_true", help="print JSON instead of a table")

    ex = with_config(
        sub.add_parser(
            "export",
            help="write an event's results, presses and printable report as files",
            description="Read the event's journal (the [journal] path of the config, or "
            "--journal) and write results.csv, groups.csv, results.xlsx, votes.csv, results.json "
            "and report.html for every round, or for the rounds named with --round. Works during "
            "and after the event.",
        )
    )
    ex.add_argument(
        "--journal",
        type=Path,
        action="append",
        metavar="FILE",
        help="the journal file (default: [journal] path); given again, the journals of other "
        "bridges of the event, whose presses are merged in",
    )
    ex.add_argument(
        "--out",
        type=Path,
        default=Path("export"),
        metavar="DIR",
        help="folder to write into (default: ./export)",
    )
    ex.add_argument(
        "--round",
        action="append",
        default=[],
        dest="rounds",
        metavar="ID",
        help="export this round only (repeatable)",
    )
    ex.add_argument(
        "--policy",
        choices=[p.value for p in Policy],
        help="recount every round with this policy instead of the live results",
    )
    ex.add_argument(
        "--grace-s", type=float, help="recount every round with this grace period (seconds)"
    )
    ex.add_argument(
        "--language",
        choices=[lang.value for lang in Language],
        help="language of the report and the files (default: [event] language)",
    )

    rc = sub.add_parser(
        "receivers",
        help="list the receivers plugged into this machine",
        description="List the i>clicker base stations on USB (bus, port URL, serial number, "
        "generation) and the serial ports whose USB IDs match a known receiver or a board "
        "DIY receivers are built on, with the url to put in [[receivers]].",
    )
    rc.add_argument("--json", action="store_true", help="print JSON instead of a table")

    sim = sub.add_parser(
        "sim",
        help="run a receiver simulator on a pseudo-terminal or TCP port",
        description="Simulate a receiver and its audience. Point a service's receiver url "
        "at the printed device path or socket:// URL.",
    )
    sim.add_argument("--driver", required=True, help="receiver family to simulate")
    sim.add_argument("--link", choices=["pty", "tcp"], default="pty")
    sim.add_argument("--port", type=int, default=0, help="TCP port (default: any free one)")
    sim.add_argument("--handsets", type=int, default=220)
    sim.add_argument(
        "--every-s",
        type=float,
        default=40.0,
        help="seconds between the audience's rounds of votes (default 40)",
    )
    sim.add_argument("--loss", type=float, default=0.1, help="RF loss rate (default 0.1)")
    sim.add_argument("--speed", type=float, default=1.0, help="time acceleration (default 1)")
    sim.add_argument(
        "--replay",
        type=Path,
        metavar="FILE",
        help="instead of an audience, send this capture as recorded",
    )
    sim.add_argument("--seed", type=int, default=1)
    with_config(broker_config.add_parser(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except USAGE_ERRORS as exc:
        print(f"arsbridge: error: {exc}", file=sys.stderr)
        return 2
    except RUN_ERRORS as exc:
        print(f"arsbridge: error: {_describe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "replay":
        return _replay(args)
    if command == "receivers":
        return _receivers(args)
    if command == "sim":
        from firmware_sim.run import SimOptions, run_sim

        opts = SimOptions(
            args.driver,
            args.link,
            args.port,
            args.handsets,
            args.every_s,
            args.loss,
            args.speed,
            args.replay,
            args.seed,
        )
        try:
            asyncio.run(run_sim(opts))
        except LookupError as exc:
            raise ConfigError(str(exc)) from None
        return 0
    settings = load_settings(args.config)
    if command == "export":
        return _export(settings, args)
    if command == "broker-config":
        for path in broker_config.write_broker_config(settings, args.out):
            print(path)
        return 0
    if getattr(args, "port", None):
        settings = settings.model_copy(
            update={"api": settings.api.model_copy(update={"port": args.port})}
        )
    _logging(settings)
    if command == "demo" and args.simulate_event:
        from arsbridge.simulation import simulate_event

        done = asyncio.run(simulate_event(settings, args.out))
        print(f"exported {len(done.rounds)} rounds and {done.presses} presses to {done.folder}:")
        for path in done.files:
            print(f"  {path}")
        return 0
    if command == "demo":
        return asyncio.run(_demo(settings, args))
    roles = ROLES if command == "serve" else (command,)
    service = Service(settings, roles=roles)
    from arsbridge.runner import run_headless, serve_api

    if "api" in roles:
        asyncio.run(serve_api(service))
    else:
        asyncio.run(run_headless(service))
    return 0


def _replay(args: argparse.Namespace) -> int:
    load_driver(args.driver)  # an unknown --driver is the first thing to say
    data = args.input.read_bytes()
    if not data.strip():
        raise NotACapture(f"{args.input} is empty: --input needs a capture of a receiver")
    result = replay(args.driver, data, policy=Policy(args.policy))
    if result.presses == 0 and result.pings == 0:
        raise NotACapture(
            f"{args.input} holds nothing the {args.driver} codec reads as a press "
            f"({result.noise} noise, {result.rejected} rejected frames): is it a capture "
            f"of another receiver family? Check --driver ({', '.join(DRIVERS)})"
        )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    print(
        f"{args.input}: {result.presses} presses from {result.handsets_heard} handsets, "
        f"{result.duplicates} duplicates, {result.changes} changes of answer, "
        f"{result.rejected} rejected, {result.noise} noise"
    )
    print(f"voters {result.voters} (policy: {result.policy.value})")
    for key, count in result.counts.items():
        share = 100.0 * count / result.voters if result.voters else 0.0
        print(f"  {key}  {count:5d}  {share:5.1f}%")
    return 0


def _receivers(args: argparse.Namespace) -> int:
    from drivers.detect import list_serial_receivers
    from drivers.iclicker.detect import list_bases

    bases = list_bases()
    ports = list_serial_receivers()
    if args.json:
        print(
            json.dumps(
                {
                    "bases": [dataclasses.asdict(b) for b in bases],
                    "serial_ports": [dataclasses.asdict(p) for p in ports],
                },
                indent=2,
            )
        )
        return 0
    print(f"i>clicker bases on USB: {len(bases) or 'none'}")
    for b in bases:
        gen = b.generation.value if b.generation is not None else "unknown generation"
        print(
            f'  url = "{b.url}"   bus {b.bus} address {b.address}, {gen}, '
            f"serial {b.serial_number or '-'}  {b.error}".rstrip()
        )
    print(f"serial ports that look like receivers: {len(ports) or 'none'}")
    for p in ports:
        print(
            f'  url = "{p.device}"   {p.what} ({p.vid:04x}:{p.pid:04x}), driver '
            f"{' or '.join(p.drivers)}"
        )
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from bridge.reports.export import export_event

    try:
        journals = args.journal or [settings.journal.path]
        done = export_event(
            journals[0],
            args.out,
            others=journals[1:],
            rounds=args.rounds,
            policy=Policy(args.policy) if args.policy else None,
            grace_s=args.grace_s,
            min_segment=settings.event.min_segment,
            language=Language(args.language) if args.language else settings.event.language,
        )
    except LookupError as exc:
        raise ConfigError(str(exc)) from None
    print(f"exported {len(done.rounds)} rounds and {done.presses} presses to {done.folder}:")
    for path in done.files:
        print(f"  {path}")
    return 0


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from arsbridge.demo import DemoPlan, demo_settings, run_rounds, simulated_receiver
    from arsbridge.runner import serve_api

    plan = DemoPlan(voting_s=args.voting_s, rounds=args.rounds)
    endpoint, sim = await simulated_receiver(plan)
    async with endpoint:
        service = Service(demo_settings(settings, endpoint.url, Path("var")))
        playing = asyncio.create_task(sim.run(), name="sim")
        try:
            await serve_api(service, on_started=lambda svc, url: run_rounds(svc, url, sim, plan))
        finally:
            playing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await playing
    return 0


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"{exc.filename}: no such file"
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


if __name__ == "__main__":
    raise SystemExit(main())
