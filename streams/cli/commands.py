"""What each ``riskmon`` command does: one handler per command, looked up in :data:`COMMANDS`.

A handler takes the parsed arguments and the settings, wires the layers it needs (imported when
the command runs, so ``riskmon score`` never loads Faust) and returns the exit status (None = 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from streams.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int | None]


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` and set ``stop`` on SIGINT/SIGTERM."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner())


def demo(args: argparse.Namespace, settings: Settings) -> None:
    from streams.cli.demo import run_demo

    run_until_signal(
        lambda stop: run_demo(
            settings,
            stop,
            simulator=not args.no_simulator,
            speed=args.speed,
            rate=args.rate,
            insecure_demo_users=args.insecure_demo_users,
        )
    )


def worker(args: argparse.Namespace, settings: Settings) -> None:
    from streams.city.config import load_city_config
    from streams.ops.startup import prepare
    from streams.worker.main import run_worker

    asyncio.run(prepare(settings))
    run_worker(settings, load_city_config(settings.city))


def gateway(args: argparse.Namespace, settings: Settings) -> None:
    from aiokafka.errors import KafkaConnectionError

    from dashboard_ws.server import Gateway
    from streams.metrics import serve_metrics
    from streams.ops.topics import create_topics

    async def serve(stop: asyncio.Event) -> None:
        # Only the gateway's own topics: creating riskmon.located here would hide a lost log
        # from the set-up step (see streams/ops/startup.py). Best effort: a gateway started while
        # Kafka is down serves the page and the history API, and its feed retries.
        try:
            await create_topics(settings, only=settings.topics.of_gateway(), timeout_s=10.0)
        except KafkaConnectionError as error:
            logging.getLogger("riskmon.gateway").warning(
                "kafka unreachable at start; serving anyway, the feed retries error=%r",
                str(error),
            )
        async with Gateway(settings) as gateway:
            serve_metrics(settings.metrics_host, settings.metrics_port, gateway.registry)
            scheme = "https" if settings.tls_cert else "http"
            print(f"dashboard: {scheme}://{settings.gateway_host}:{gateway.port}/", flush=True)
            await stop.wait()

    run_until_signal(serve)


def sink(args: argparse.Namespace, settings: Settings) -> None:
    from streams.metrics import WorkerMetrics, serve_metrics
    from streams.ops.startup import prepare
    from streams.persistence.sink import run_sink

    asyncio.run(prepare(settings))  # whichever process starts first sets up (or notices)
    metrics = WorkerMetrics()
    serve_metrics(settings.metrics_host, settings.metrics_port, metrics.registry)
    run_until_signal(lambda stop: run_sink(settings, stop, metrics=metrics))


def simulate(args: argparse.Namespace, settings: Settings) -> None:
    from streams.simulator.producer import run_simulator

    run_until_signal(
        lambda stop: run_simulator(
            settings, speed=args.speed, rate_multiplier=args.rate, seed=args.seed, stop=stop
        )
    )


def score(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.score import run_score

    return run_score(
        args.events,
        args.at or datetime.now(UTC),
        args.config or settings.city,
        as_json=args.json,
    )


def detect(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.detect import run_from_args

    return run_from_args(args)


def replay(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.replay import run_replay_cli

    return run_replay_cli(
        settings,
        args.start,
        args.end,
        model_version=args.model_version,
        series=args.series,
        config_path=args.config,
        every_s=args.every,
        quiet=args.quiet,
        compare_alerts=args.compare_alerts,
    )


def topics(args: argparse.Namespace, settings: Settings) -> None:
    from streams.ops.startup import prepare

    prepared = asyncio.run(prepare(settings))
    print("\n".join(prepared.topics) or "all topics exist")
    if prepared.epoch is not None:
        print(f"stream epoch: {prepared.epoch}")


def db_migrate(args: argparse.Namespace, settings: Settings) -> None:
    from streams.ops.startup import migrate_db

    print("applied:", asyncio.run(migrate_db(settings)) or "nothing (up to date)")


def db_retention(args: argparse.Namespace, settings: Settings) -> int:
    from streams.persistence.retention import run_retention_cli

    return run_retention_cli(settings, dry_run=args.dry_run)


def db_new_epoch(args: argparse.Namespace, settings: Settings) -> None:
    from streams.ops.startup import new_epoch

    print(f"stream epoch: {asyncio.run(new_epoch(settings, args.reason))}")


def db_rebuild_checkpoints(args: argparse.Namespace, settings: Settings) -> None:
    from streams.city.config import load_city_config
    from streams.replay.checkpoints import rebuild_checkpoints

    rebuilt = asyncio.run(rebuild_checkpoints(settings, load_city_config(settings.city)))
    for r in rebuilt:
        print(
            f"partition {r.partition}: {r.events} events, next offset {r.scorer.next_offset}, "
            f"{r.outcomes}"
        )
    print(f"rebuilt {len(rebuilt)} checkpoints (the replaced ones are in checkpoint_archive)")


def status(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.status import run_status
    from streams.ops.status import Limits

    limits = Limits(max_lag=args.max_lag, stale_checkpoint_s=args.stale_after)
    return run_status(settings, limits, as_json=args.json, sample_s=args.sample)


def city_import(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.city import city_import as run

    return run(args, settings)


def city_synth(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.city import city_synth as run

    return run(args, settings)


def users_add(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.users import users_add as run

    return run(args, settings)


def users_list(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.users import users_list as run

    return run(args, settings)


def users_disable(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.users import users_disable as run

    return run(args, settings)


def users_set_role(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.users import users_set_role as run

    return run(args, settings)


def users_set_agency(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.users import users_set_agency as run

    return run(args, settings)


def schema(args: argparse.Namespace, settings: Settings) -> None:
    from streams.contract import export_schemas
    from streams.contract.asyncapi import asyncapi_json, asyncapi_markdown

    for path in export_schemas(args.out):
        print(path)
    document = args.out / "asyncapi.json"
    text = asyncapi_json(settings.topics, partitions=settings.partitions)
    document.write_text(text)
    print(document)
    if args.docs is not None:
        rendered = args.docs / "asyncapi.md"
        rendered.write_text(asyncapi_markdown(json.loads(text)))
        print(rendered)


def publish(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.publish import run_publish

    return run_publish(args, settings)


def fetch_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.adapters import run_fetch_alerts

    return run_fetch_alerts(args, settings)


def whatif(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.whatif import run_whatif

    return run_whatif(args, settings)


COMMANDS: dict[str, Handler] = {
    "demo": demo,
    "worker": worker,
    "gateway": gateway,
    "sink": sink,
    "simulate": simulate,
    "score": score,
    "detect": detect,
    "replay": replay,
    "topics": topics,
    "db migrate": db_migrate,
    "db retention": db_retention,
    "db new-epoch": db_new_epoch,
    "db rebuild-checkpoints": db_rebuild_checkpoints,
    "status": status,
    "schema": schema,
    "publish": publish,
    "fetch-alerts": fetch_alerts,
    "whatif": whatif,
    "city import": city_import,
    "city synth": city_synth,
    "users add": users_add,
    "users list": users_list,
    "users disable": users_disable,
    "users set-role": users_set_role,
    "users set-agency": users_set_agency,
}
