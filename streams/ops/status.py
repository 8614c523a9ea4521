"""``riskmon status``, the pure part: what was observed of a deployment -> checks an operator reads.

:mod:`streams.ops.status_probe` gathers an :class:`Observed` from Kafka and PostgreSQL;
:func:`assess` turns it into :class:`Check` lines (``ok``, ``warn``, ``fail``) and
:func:`exit_status` into the command's exit status. No I/O here and no clock: ``Observed.at`` is the
time of the observation.

Where each stage stands:

* **ingest** — the worker group's committed offsets on the input topics (Faust commits them);
* **scoring** and **alerting** — the checkpoints in PostgreSQL: each holds the next offset of its
  partition of ``riskmon.located`` (or of the alert stage's inputs), which is where a worker
  resumes, so ``end - next_offset`` is what a restarted worker would still have to read;
* **sink** — the sink group's committed offsets (committed only after its rows are durable).

A stage behind by more than ``Limits.max_lag`` records warns; so does a checkpoint older than
``Limits.stale_checkpoint_s`` while its partition has records after it (nobody is consuming
them). Positions are read before log ends, so a position beyond its end is a failure: the log
was recreated or lost under it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "EXIT_DEGRADED",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "Check",
    "Level",
    "Limits",
    "Observed",
    "Position",
    "assess",
    "exit_status",
    "lag",
]

Level = Literal["ok", "warn", "fail"]

EXIT_OK = 0
EXIT_DEGRADED = 1  # a warning: behind, stale, or a stage not running
EXIT_FAILED = 2  # something to fix: missing topics, wrong partition counts, an old schema
EXIT_UNREACHABLE = 3  # Kafka or PostgreSQL did not answer


@dataclass(frozen=True, slots=True)
class Position:
    """Where a stage stands on one partition, and the partition's end.

    ``at`` is None when the stage never recorded a position there (nothing committed, no
    checkpoint); ``saved_at`` is the checkpoint's time (checkpointed stages only).
    """

    topic: str
    partition: int
    end: int
    at: int | None
    saved_at: datetime | None = None

    @property
    def behind(self) -> int:
        return lag(self.end, self.at)


def lag(end: int, at: int | None) -> int:
    """Records from ``at`` (None: the beginning) to ``end``, never negative (a position beyond
    the end is reported on its own).

    >>> lag(120, 100), lag(120, None), lag(99, 100)
    (20, 120, 0)
    """
    return max(0, end - (at or 0))


@dataclass(frozen=True)
class Observed:
    """One look at a deployment; fields of a server that did not answer stay empty."""

    at: datetime
    kafka_error: str | None = None
    missing_topics: tuple[str, ...] = ()
    partition_problems: tuple[str, ...] = ()
    ingest: tuple[Position, ...] = ()
    scoring: tuple[Position, ...] = ()
    alerting: tuple[Position, ...] = ()
    sink: tuple[Position, ...] = ()
    pg_error: str | None = None
    schema_version: int | None = None
    schema_latest: int = 0
    epoch: int | None = None
    epoch_began: datetime | None = None
    epoch_reason: str | None = None
    newest_score: datetime | None = None
    open_alerts: Mapping[str, int] = field(default_factory=dict)
    dead_letters_1h: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Limits:
    max_lag: int = 1000
    """Records a stage may be behind before it warns."""
    stale_checkpoint_s: float = 120.0
    """Age of a checkpoint with records after it that means nobody consumes the partition."""


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    level: Level
    detail: str


def assess(
    observed: Observed, limits: Limits = Limits(), earlier: Observed | None = None
) -> list[Check]:
    """The checks, in a fixed order: servers, topics, schema, then each stage.

    With ``earlier``, a look taken a few seconds before, a stage whose position did not move
    while records waited after it is *stalled* (nobody consumes them, or a batch is stuck).

    >>> from datetime import UTC
    >>> now = datetime(2026, 11, 25, tzinfo=UTC)
    >>> checks = assess(Observed(at=now, pg_error="connection refused", kafka_error=None))
    >>> [(c.name, c.level) for c in checks][:2]
    [('kafka', 'ok'), ('postgresql', 'fail')]
    """
    checks = [
        _server("kafka", observed.kafka_error),
        _server("postgresql", observed.pg_error),
    ]
    if observed.kafka_error is None:
        problems = (
            [f"missing: {', '.join(observed.missing_topics)}"] if observed.missing_topics else []
        )
        problems += list(observed.partition_problems)
        checks.append(
            Check("topics", "fail", "; ".join(problems) + " (run `riskmon topics`)")
            if problems
            else Check("topics", "ok", "every topic present with the partitions riskmon needs")
        )
    if observed.pg_error is None:
        checks.append(_schema(observed))

    def before(stage: str) -> dict[tuple[str, int], Position]:
        positions: tuple[Position, ...] = getattr(earlier, stage) if earlier else ()
        return {(p.topic, p.partition): p for p in positions}

    gap = (observed.at - earlier.at).total_seconds() if earlier else 0.0
    if observed.kafka_error is None:
        checks.append(
            _committed("ingest", observed.ingest, before("ingest"), gap, limits, "worker")
        )
    if observed.kafka_error is None and observed.pg_error is None:
        for stage in ("scoring", "alerting"):
            positions = getattr(observed, stage)
            checks.append(_checkpointed(stage, positions, before(stage), gap, observed.at, limits))
    if observed.kafka_error is None:
        checks.append(_committed("sink", observed.sink, before("sink"), gap, limits, "sink"))
    return checks


def exit_status(checks: Sequence[Check]) -> int:
    """3 when a server did not answer, else 2 for a failure, 1 for a warning, 0 when all is ok."""
    if any(c.level == "fail" and c.name in ("kafka", "postgresql") for c in checks):
        return EXIT_UNREACHABLE
    if any(c.level == "fail" for c in checks):
        return EXIT_FAILED
    if any(c.level == "warn" for c in checks):
        return EXIT_DEGRADED
    return EXIT_OK


def _server(name: str, error: str | None) -> Check:
    return Check(name, "fail", error) if error else Check(name, "ok", "answers")


def _schema(observed: Observed) -> Check:
    version, latest = observed.schema_version, observed.schema_latest
    if version is None:
        return Check("schema", "fail", "no riskmon schema in this database (`riskmon db migrate`)")
    if version < latest:
        return Check("schema", "fail", f"version {version} of {latest} (`riskmon db migrate`)")
    if version > latest:
        return Check("schema", "warn", f"version {version} is newer than this riskmon ({latest})")
    return Check("schema", "ok", f"version {version}")


def _total(positions: Sequence[Position]) -> int:
    return sum(p.behind for p in positions)


def _worst(positions: Sequence[Position]) -> str:
    worst = max(positions, key=lambda p: p.behind)
    return f"{worst.topic}[{worst.partition}] {worst.behind}"


def _stalled(
    positions: Sequence[Position], before: Mapping[tuple[str, int], Position]
) -> list[Position]:
    """Positions with records after them that did not move since the earlier look."""
    out = []
    for p in positions:
        prior = before.get((p.topic, p.partition))
        if p.behind > 0 and prior is not None and prior.behind > 0 and prior.at == p.at:
            out.append(p)
    return out


def _ahead(positions: Sequence[Position]) -> str:
    """The positions beyond their log's end, listed (positions are read before ends, so in a
    healthy deployment there are none)."""
    return ", ".join(
        f"{p.topic}[{p.partition}] at {p.at}, end {p.end}"
        for p in positions
        if p.at is not None and p.at > p.end
    )


def _committed(
    name: str,
    positions: Sequence[Position],
    before: Mapping[tuple[str, int], Position],
    gap: float,
    limits: Limits,
    consumer: str,
) -> Check:
    """A stage whose position is its consumer group's committed offsets (``consumer``: the
    process that runs the group, ``worker`` or ``sink``)."""
    who = f"{consumer} group"
    if not positions:
        return Check(name, "ok", "no partitions")
    if ahead := _ahead(positions):
        return Check(
            name,
            "fail",
            f"the {who}'s offsets lie beyond the log end ({ahead}): the topic was recreated or "
            f"the broker lost its log; the {who} would skip records until the log passes them. "
            "Stop its consumers and delete the group's offsets of those topics",
        )
    behind = _total(positions)
    stalled = _stalled(positions, before)
    if stalled:
        listed = ", ".join(f"{p.topic}[{p.partition}] {p.behind}" for p in stalled)
        return Check(
            name,
            "warn",
            f"stalled: no progress in {gap:.0f} s with records waiting ({listed}); is the "
            f"{consumer} running?",
        )
    never = [p for p in positions if p.at is None and p.end > 0]
    if never and len(never) == len([p for p in positions if p.end > 0]):
        return Check(name, "warn", f"the {who} has committed nothing yet; {behind} records waiting")
    if behind > limits.max_lag:
        return Check(name, "warn", f"{behind} records behind (most: {_worst(positions)})")
    return Check(name, "ok", f"{behind} records behind")


def _checkpointed(
    name: str,
    positions: Sequence[Position],
    before: Mapping[tuple[str, int], Position],
    gap: float,
    now: datetime,
    limits: Limits,
) -> Check:
    if not positions:
        return Check(name, "ok", "no partitions")
    if ahead := _ahead(positions):
        return Check(
            name,
            "fail",
            f"checkpoints lie beyond the log end ({ahead}): the topic was recreated or the "
            "broker lost its log, and a worker resuming there would skip records. Stop the "
            "workers and run `riskmon db new-epoch`",
        )
    behind = _total(positions)
    stalled = {(p.topic, p.partition) for p in _stalled(positions, before)}
    stuck = [
        p
        for p in positions
        if p.behind > 0
        and (
            (p.topic, p.partition) in stalled
            or p.saved_at is None
            or (now - p.saved_at).total_seconds() > limits.stale_checkpoint_s
        )
    ]
    if stuck:
        listed = ", ".join(
            f"{p.topic}[{p.partition}] {p.behind} behind, "
            + ("no checkpoint" if p.saved_at is None else f"checkpoint {_age(now, p.saved_at)} old")
            for p in stuck
        )
        return Check(name, "warn", f"not advancing: {listed}; is a worker running?")
    if behind > limits.max_lag:
        return Check(name, "warn", f"{behind} records behind (most: {_worst(positions)})")
    return Check(name, "ok", f"{behind} records after the checkpoints")


def _age(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
