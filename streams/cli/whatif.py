"""``riskmon whatif``: the policy map offline: one change in every district, ranked.

    riskmon whatif --city ../shared/data/gimpo --change cctv --count 1 [--at T] [--json]
    riskmon whatif --change inspection --structure ID [--grade B] --from-db

The districts' states before the change are, in this order of preference:

* ``--from-db``: the worker's checkpoints in PostgreSQL (``RISKMON_PG_DSN``), each district's
  newest state, as the gateway's ``GET /api/whatif`` reads them;
* otherwise a baseline built here: ``--baseline register`` (default) is the safety register the
  simulator announces at its start (``riskmon simulate --seed 7``, the demo's: facilities per
  10,000 residents of Korean cities' orders of magnitude, structures with FMS-like grades), or
  ``--baseline empty`` (a city with no safety facts at all); ``--events F.jsonl`` then applies an
  agency's own facts (or any inputs, as ``riskmon score`` reads them) on top.

docs/policy-map.md explains the method and shows Gimpo's ranking.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indices import DistrictState, InvalidEvent
from indices.whatif import MAX_ITEMS
from streams.city.config import CityConfig, CityConfigError, load_city_config
from streams.contract import (
    WHATIF_CHANGES,
    FacilityFact,
    InspectionFact,
    WhatIfBasis,
    WhatIfResponse,
)
from streams.pipeline.scoring import to_model_event
from streams.pipeline.whatif import (
    WhatIfRefused,
    make_change,
    states_from_lines,
    whatif_response,
)
from streams.settings import Settings

__all__ = ["add_parser", "register_states", "run_whatif"]

DEFAULT_SEED = 7  # the demo's and `riskmon simulate`'s


def add_parser(sub: Any) -> None:
    """Add ``riskmon whatif`` to the ``riskmon`` subcommands."""
    parser = sub.add_parser(
        "whatif",
        help="predicted change of the indices after adding facilities or re-inspecting a "
        "structure, every district ranked",
    )
    parser.add_argument("--city", type=Path, default=None, help="city folder or city.toml")
    parser.add_argument("--change", required=True, choices=WHATIF_CHANGES)
    parser.add_argument(
        "--count", type=int, default=1, help=f"facilities added per district (1..{MAX_ITEMS})"
    )
    parser.add_argument("--structure", default=None, help="with --change inspection")
    parser.add_argument("--grade", default=None, help="the grade found (default B)")
    parser.add_argument("--district", default=None, help="only this district")
    parser.add_argument("--at", type=_aware_time, default=None, help="RFC 3339 (default now)")
    parser.add_argument("--by", choices=("risk", "safety"), default="risk", help="rank by")
    parser.add_argument("--from-db", action="store_true", help="the worker's checkpoints")
    parser.add_argument("--baseline", choices=("register", "empty"), default="register")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the register's seed")
    parser.add_argument("--events", type=Path, default=None, help="JSON lines applied on top")
    parser.add_argument("--json", action="store_true", help="the API's JSON answer on stdout")


def run_whatif(args: argparse.Namespace, settings: Settings) -> int:
    """Exit status 0, or 2 for a request that cannot be answered (said on stderr)."""
    at: datetime = args.at or datetime.now(UTC)
    try:
        config = load_city_config(args.city or settings.city)
        change = make_change(args.change, args.count, args.structure, args.grade)
        if args.from_db:
            if args.events is not None or args.baseline != "register":
                raise WhatIfRefused("--from-db reads the checkpoints: no --baseline or --events")
            states, basis = asyncio.run(_checkpoint_states(settings, config))
        else:
            states, basis = _baseline_states(args, config, at)
        answer = whatif_response(
            config.city.model_districts(),
            states,
            config.params,
            change,
            at,
            basis,
            only=args.district,
            by=args.by,
        )
    except (CityConfigError, OSError, WhatIfRefused, InvalidEvent) as exc:
        print(f"riskmon whatif: {exc}", file=sys.stderr)
        return 2
    print(answer.model_dump_json(indent=1) if args.json else as_table(answer, config))
    return 0


def register_states(config: CityConfig, seed: int, at: datetime) -> dict[str, DistrictState]:
    """Each district's state after the safety register the simulator announces at its start
    (facilities and inspected structures; no incidents, no readings)."""
    from streams.simulator.core import Simulator
    from streams.simulator.districts import districts_from_city

    states = {code: DistrictState.new() for code in config.city.codes}
    simulator = Simulator(districts_from_city(config.city), seed=seed, start=at)
    for event, code in simulator.advance_with_districts(at):
        if isinstance(event, FacilityFact | InspectionFact):
            states[code].apply(to_model_event(event), config.params)
    return states


def _baseline_states(
    args: argparse.Namespace, config: CityConfig, at: datetime
) -> tuple[dict[str, DistrictState], WhatIfBasis]:
    if args.baseline == "register":
        states = register_states(config, args.seed, at)
        detail = f"the simulator's safety register at its start (seed {args.seed}; synthetic)"
    else:
        states = {code: DistrictState.new() for code in config.city.codes}
        detail = "empty: no safety facts"
    if args.events is not None:
        with args.events.open("rb") as lines:
            result = states_from_lines(lines, config, at, states)
        for number, letter in result.rejected:
            print(
                f"{args.events}:{number}: skipped ({letter.error}): {letter.reason}",
                file=sys.stderr,
            )
        detail += f", then {result.applied} events of {args.events.name}"
    return states, WhatIfBasis(source="baseline", detail=detail)


async def _checkpoint_states(
    settings: Settings, config: CityConfig
) -> tuple[dict[str, DistrictState], WhatIfBasis]:
    from streams.persistence import db  # asyncpg only when asked to
    from streams.persistence.whatif_reads import load_states

    dsn = settings.pg_dsn
    if dsn is None:
        raise WhatIfRefused("--from-db needs RISKMON_PG_DSN")
    conn = await db.connect(dsn)
    try:
        found = await load_states(conn, settings.app_id, settings.topics.located, config.params)
    finally:
        await conn.close()
    for partition, reason in sorted(found.skipped.items()):
        print(
            f"riskmon whatif: checkpoint of partition {partition} skipped: {reason}",
            file=sys.stderr,
        )
    if not found.states:
        raise WhatIfRefused("no usable checkpoint: has the worker run against this database?")
    empty = [code for code in config.city.codes if code not in found.states]
    detail = f"the worker's checkpoints ({settings.app_id}, {settings.topics.located})"
    return found.states, WhatIfBasis(
        source="checkpoints", detail=detail, saved_at=found.saved_at, empty=empty
    )


def as_table(answer: WhatIfResponse, config: CityConfig) -> str:
    """The ranking as a text table: composite risk and safety before -> after, per item."""
    what = (
        f"re-inspect {answer.structure_id} to grade {answer.grade}"
        if answer.change == "inspection"
        else f"add {answer.count} {answer.change} in each district"
    )
    rows = [
        f"what if: {what}; {config.city.name}; at {answer.at.isoformat()}; "
        f"model {answer.model_version}; ranked by {answer.ranked_by} per item",
        f"baseline: {answer.basis.detail}",
        f"{'#':>3} {'district':<11}{'name':<8}{'risk':>7}{'->':^4}{'after':<7}{'g':>3}"
        f"{'-risk/item':>12}{'safety':>8}{'->':^4}{'after':<7}{'+safety/item':>13}",
    ]
    for d in answer.districts:
        c, s = d.composite, d.safety
        rows.append(
            f"{d.rank:>3} {d.district:<11}{d.name:<8}{c.before:>7.3f}{'->':^4}{c.after:<7.3f}"
            f"{c.grade_before}{'>' if c.grade_after != c.grade_before else ' '}{c.grade_after}"
            f"{d.risk_reduction_per_item:>12.5f}{s.before:>8.3f}{'->':^4}{s.after:<7.3f}"
            f"{d.safety_gain_per_item:>13.5f}"
        )
    if answer.basis.empty:
        rows.append(f"without a state (no history): {', '.join(answer.basis.empty)}")
    return "\n".join(rows)


def _aware_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (e.g. +09:00 or Z)")
    return moment
