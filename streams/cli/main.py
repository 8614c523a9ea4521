"""The ``riskmon`` command.

    riskmon demo [--port 8080] [--no-simulator]   everything on one machine, embedded servers
    riskmon worker                                 the Faust worker (needs Kafka and PostgreSQL)
    riskmon gateway                                the websocket gateway
    riskmon sink                                   the PostgreSQL history sink
    riskmon simulate                               the event simulator (of RISKMON_CITY)
    riskmon score --events F.jsonl [--at T] [--config city.toml] [--json]
                                                   every district's scores, offline
    riskmon whatif --change cctv [--count N] [--city DIR] [--at T] [--from-db] [--json]
                                                   one change in every district, ranked by
                                                   predicted risk reduction (policy map)
    riskmon detect --input IN.csv --output OUT.csv [--direction up|down|both]
                   [--out-of-order score|fail]     the anomaly detector on a CSV series
    riskmon replay --from T1 --to T2 [--model-version V] [--series NAME] [--config F]
                   [--every SECONDS] [--compare-alerts]
                                                   recompute score history from stored events
    riskmon topics                                 create riskmon's topics (and migrate the
                                                   database and begin a stream epoch when a
                                                   lost log had to be recreated)
    riskmon db migrate                             apply database migrations
    riskmon db new-epoch [--reason TEXT]           the broker's logs were rebuilt: drop
                                                   checkpoints, start a new stream epoch
    riskmon db retention [--dry-run]               delete and downsample old history
    riskmon db rebuild-checkpoints                 after a model or district change: every
                                                   partition's state from stored history
    riskmon schema [--out DIR]                     export the wire contract as JSON Schema
                                                   and an AsyncAPI 3.0 document
    riskmon publish FILE... [--check] [--skip-bad] [--format auto|jsonl|csv|cap]
                                                   publish (or only check) a file of events
                                                   or CAP alerts, every bad line reported
    riskmon city import --boundaries F.geojson --population F.csv --select CODE_PREFIX --out DIR
                   [--name NAME] [--code-field adm_cd2 --name-field adm_nm ...]
                                                   a city folder from official data, validated
    riskmon city synth --out DIR [--districts N --seed S]
                                                   approximate Gimpo (or N random districts)
    riskmon users add NAME --role ROLE [--agency AGENCY] [--password-stdin]
    riskmon users list | disable NAME | set-role NAME ROLE | set-agency NAME AGENCY
                                                   accounts of the gateway (in PostgreSQL)

Settings come from ``RISKMON_*`` environment variables (see README, "Configuration").
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from streams import logs
from streams.cli.adapters import add_parser as add_adapters_parser
from streams.cli.city import add_parser as add_city_parser
from streams.cli.commands import COMMANDS
from streams.cli.detect import add_arguments as add_detect_arguments
from streams.cli.errors import explain
from streams.cli.publish import add_parser as add_publish_parser
from streams.cli.users import add_parser as add_users_parser
from streams.cli.whatif import add_parser as add_whatif_parser
from streams.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riskmon", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="broker, PostgreSQL, worker, gateway and simulator")
    demo.add_argument("--port", type=int, default=None, help="gateway port (default 8080)")
    demo.add_argument("--no-simulator", action="store_true", help="no synthetic events")
    demo.add_argument(
        "--insecure-demo-users",
        action="store_true",
        help="also a viewer demo/demo (a known password: local demos only)",
    )
    demo.add_argument("--speed", type=float, default=1.0, help="simulated s per real s")
    demo.add_argument("--rate", type=float, default=120.0, help="incident rate multiplier")
    sub.add_parser("worker", help="run the Faust worker")
    gateway = sub.add_parser("gateway", help="run the websocket gateway")
    gateway.add_argument("--port", type=int, default=None)
    sub.add_parser("sink", help="run the PostgreSQL history sink")
    simulate = sub.add_parser("simulate", help="publish simulated events of the city")
    simulate.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated s per real s; above 1 events run ahead of the wall clock, so raise the "
        "worker's RISKMON_MAX_FUTURE_S (the demo does)",
    )
    simulate.add_argument("--rate", type=float, default=30.0)
    simulate.add_argument("--seed", type=int, default=7)
    score = sub.add_parser("score", help="score events offline, as the worker would")
    score.add_argument(
        "--events",
        type=Path,
        required=True,
        help="JSON lines: Incident, SensorReading, SafetyFact or located events",
    )
    score.add_argument(
        "--at",
        type=_aware_time,
        default=None,
        help="evaluation time, RFC 3339 with offset (default: now)",
    )
    score.add_argument("--config", type=Path, default=None, help="city configuration TOML")
    score.add_argument("--json", action="store_true", help="one JSON document on stdout")
    detect = sub.add_parser("detect", help="anomaly scores of a timestamp,value CSV")
    detect.add_argument(
        "--input",
        type=Path,
        required=True,
        help="CSV rows timestamp,value (ISO 8601 or epoch s; naive = UTC)",
    )
    detect.add_argument(
        "--output", type=Path, required=True, help="CSV timestamp,value,anomaly_score"
    )
    add_detect_arguments(detect)
    replay = sub.add_parser("replay", help="recompute score history from stored events")
    replay.add_argument("--from", dest="start", type=_aware_time, required=True)
    replay.add_argument("--to", dest="end", type=_aware_time, required=True)
    replay.add_argument(
        "--model-version", default=None, help="label of the model (default: version+params digest)"
    )
    replay.add_argument("--series", default=None, help="series to write (default replay:VERSION)")
    replay.add_argument("--config", type=Path, default=None, help="city configuration TOML")
    replay.add_argument(
        "--every",
        type=float,
        default=None,
        help="backfill: evaluate every N seconds instead of at the live series' instants",
    )
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.add_argument(
        "--compare-alerts",
        action="store_true",
        help="run the worker's alerting offline over the live and replayed series; report which "
        "warned first",
    )
    sub.add_parser(
        "topics",
        help="create riskmon's Kafka topics; with RISKMON_PG_DSN also migrate the database and "
        "begin a stream epoch when a checkpointed topic had to be created",
    )
    db = sub.add_parser("db", help="database administration")
    db.add_argument("action", choices=["migrate", "retention", "new-epoch", "rebuild-checkpoints"])
    db.add_argument("--dry-run", action="store_true", help="retention: count, change nothing")
    db.add_argument(
        "--reason",
        default="an operator began a new epoch",
        help="new-epoch: why, kept in stream_epochs (e.g. 'kafka cluster rebuilt')",
    )
    status = sub.add_parser(
        "status",
        help="is every stage running and caught up? exit 0 ok, 1 degraded, 2 to fix, "
        "3 a server unreachable",
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.add_argument(
        "--max-lag", type=int, default=1000, help="records a stage may be behind (default 1000)"
    )
    status.add_argument(
        "--stale-after",
        type=float,
        default=120.0,
        help="seconds a checkpoint may stand still while records wait after it (default 120)",
    )
    status.add_argument(
        "--sample",
        type=float,
        default=3.0,
        help="look twice this many seconds apart to tell stalled stages from busy ones "
        "(default 3; 0 = look once)",
    )
    add_city_parser(sub)
    add_users_parser(sub)
    add_publish_parser(sub)
    add_adapters_parser(sub)
    add_whatif_parser(sub)
    schema = sub.add_parser(
        "schema", help="export the wire contract as JSON Schema and an AsyncAPI document"
    )
    schema.add_argument("--out", type=Path, default=Path("streams/schemas"))
    schema.add_argument(
        "--docs", type=Path, default=None, help="also write DOCS/asyncapi.md, the rendered document"
    )
    return parser


def _aware_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (e.g. +09:00 or Z)")
    return moment


def command_of(args: argparse.Namespace) -> str:
    """The key of :data:`COMMANDS` for parsed arguments: ``"worker"``, ``"db migrate"``, ..."""
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if action else str(args.command)


def main(argv: list[str] | None = None) -> None:
    """Run one command; a bad setting or an unreachable server ends it with one line on stderr
    naming what to fix (exit 2: configuration, 3: unreachable) instead of a traceback."""
    args = _parser().parse_args(argv)
    settings: Settings | None = None
    try:
        settings = Settings()
        if getattr(args, "port", None) is not None:
            settings = settings.model_copy(update={"gateway_port": args.port})
        logs.setup(settings.log_level)
        status = COMMANDS[command_of(args)](args, settings)
        if status is not None:
            sys.exit(status)
    except Exception as error:  # the entry point: one line for what a person can fix
        explained = explain(
            error,
            kafka_bootstrap=settings.kafka_bootstrap if settings else None,
            pg_dsn=settings.pg_dsn if settings else None,
        )
        if explained is None:
            raise
        print(f"riskmon {args.command}: {explained.message}", file=sys.stderr)
        sys.exit(explained.status)


if __name__ == "__main__":
    main(sys.argv[1:])
