"""riskmon status, the pure part: observations -> checks -> exit status."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from streams.ops.status import (
    EXIT_DEGRADED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    Limits,
    Observed,
    Position,
    assess,
    exit_status,
)

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
RECENT = NOW - timedelta(seconds=2)


def healthy() -> Observed:
    return Observed(
        at=NOW,
        schema_version=3,
        schema_latest=3,
        ingest=(
            Position("riskmon.incidents", 0, 500, 500),
            Position("riskmon.readings", 0, 90, 90),
        ),
        scoring=tuple(Position("riskmon.located", p, 100, 100, RECENT) for p in range(4)),
        alerting=(
            Position("riskmon.alert-input", 0, 40, 40, RECENT),
            Position("riskmon.alert-acks", 0, 2, 2, RECENT),
        ),
        sink=(Position("riskmon.scores", 0, 300, 300),),
    )


def levels(observed: Observed, earlier: Observed | None = None, **limits: float) -> dict[str, str]:
    return {c.name: c.level for c in assess(observed, Limits(**limits), earlier)}  # type: ignore[arg-type]


def detail(observed: Observed, name: str, earlier: Observed | None = None) -> str:
    return next(c.detail for c in assess(observed, Limits(), earlier) if c.name == name)


def test_a_caught_up_deployment_is_ok_everywhere() -> None:
    checks = assess(healthy())
    assert [c.name for c in checks] == [
        "kafka",
        "postgresql",
        "topics",
        "schema",
        "ingest",
        "scoring",
        "alerting",
        "sink",
    ]
    assert {c.level for c in checks} == {"ok"}
    assert exit_status(checks) == EXIT_OK


def test_behind_more_than_the_limit_warns_and_names_the_worst_partition() -> None:
    observed = replace(
        healthy(),
        ingest=(
            Position("riskmon.incidents", 0, 5000, 3000),
            Position("riskmon.incidents", 1, 10, 9),
        ),
    )
    assert levels(observed)["ingest"] == "warn"
    assert detail(observed, "ingest") == "2001 records behind (most: riskmon.incidents[0] 2000)"
    assert levels(observed, max_lag=5000)["ingest"] == "ok"
    assert exit_status(assess(observed)) == EXIT_DEGRADED


def test_a_stage_that_does_not_move_while_records_wait_is_stalled() -> None:
    earlier = replace(
        healthy(), at=NOW - timedelta(seconds=3), sink=(Position("riskmon.scores", 0, 310, 300),)
    )
    now = replace(healthy(), sink=(Position("riskmon.scores", 0, 320, 300),))
    assert levels(now, earlier)["sink"] == "warn"
    assert detail(now, "sink", earlier).startswith("stalled: no progress in 3 s")
    assert "is the sink running?" in detail(now, "sink", earlier)
    moving = replace(healthy(), sink=(Position("riskmon.scores", 0, 320, 305),))
    assert levels(moving, earlier)["sink"] == "ok"
    assert levels(now)["sink"] == "ok"  # one look cannot tell stalled from busy


def test_an_idle_stage_is_not_stalled() -> None:
    earlier = replace(healthy(), at=NOW - timedelta(seconds=3))
    assert set(levels(healthy(), earlier).values()) == {"ok"}


def test_an_old_checkpoint_is_fine_while_nothing_waits_after_it() -> None:
    old = NOW - timedelta(hours=5)
    idle = replace(healthy(), scoring=(Position("riskmon.located", 0, 100, 100, old),))
    assert levels(idle)["scoring"] == "ok"
    waiting = replace(healthy(), scoring=(Position("riskmon.located", 0, 130, 100, old),))
    assert levels(waiting)["scoring"] == "warn"
    assert detail(waiting, "scoring") == (
        "not advancing: riskmon.located[0] 30 behind, checkpoint 5 h old; is a worker running?"
    )


def test_records_without_any_checkpoint_warn() -> None:
    fresh = replace(healthy(), scoring=(Position("riskmon.located", 2, 7, None),))
    assert "riskmon.located[2] 7 behind, no checkpoint" in detail(fresh, "scoring")


def test_a_group_that_never_committed_warns() -> None:
    observed = replace(healthy(), sink=(Position("riskmon.scores", 0, 50, None),))
    assert (
        detail(observed, "sink") == "the sink group has committed nothing yet; 50 records waiting"
    )
    empty = replace(healthy(), sink=(Position("riskmon.scores", 0, 0, None),))
    assert levels(empty)["sink"] == "ok"


def test_a_checkpoint_beyond_the_log_end_fails_and_says_what_to_do() -> None:
    # positions are read before ends: one beyond its end means the log was recreated or lost
    observed = replace(healthy(), scoring=(Position("riskmon.located", 1, 3, 240, RECENT),))
    check = next(c for c in assess(observed) if c.name == "scoring")
    assert check.level == "fail"
    assert check.detail.startswith("checkpoints lie beyond the log end (riskmon.located[1] at 240")
    assert check.detail.endswith("Stop the workers and run `riskmon db new-epoch`")
    assert exit_status(assess(observed)) == EXIT_FAILED


def test_committed_offsets_beyond_the_log_end_fail() -> None:
    observed = replace(healthy(), ingest=(Position("riskmon.incidents", 0, 98, 100),))
    assert levels(observed)["ingest"] == "fail"
    assert "riskmon.incidents[0] at 100, end 98" in detail(observed, "ingest")


def test_missing_topics_and_wrong_partitions_are_failures_to_fix() -> None:
    observed = replace(
        healthy(),
        missing_topics=("riskmon.alerts",),
        partition_problems=("riskmon.located has 1 partition(s), needs 4",),
    )
    topics = detail(observed, "topics")
    assert topics.startswith("missing: riskmon.alerts; riskmon.located has 1 partition(s)")
    assert exit_status(assess(observed)) == EXIT_FAILED


def test_an_old_schema_fails_and_names_the_command() -> None:
    assert detail(replace(healthy(), schema_version=2), "schema") == (
        "version 2 of 3 (`riskmon db migrate`)"
    )
    assert levels(replace(healthy(), schema_version=None))["schema"] == "fail"
    assert levels(replace(healthy(), schema_version=4))["schema"] == "warn"


def test_an_unreachable_server_skips_what_needs_it_and_exits_3() -> None:
    no_pg = replace(healthy(), pg_error="connection refused")
    assert list(levels(no_pg)) == ["kafka", "postgresql", "topics", "ingest", "sink"]
    assert exit_status(assess(no_pg)) == EXIT_UNREACHABLE
    no_kafka = replace(healthy(), kafka_error="KafkaConnectionError: unable to bootstrap")
    assert list(levels(no_kafka)) == ["kafka", "postgresql", "schema"]
    assert exit_status(assess(no_kafka)) == EXIT_UNREACHABLE
