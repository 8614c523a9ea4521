"""``GET /api/whatif`` on a real PostgreSQL: checkpoints written by the checkpoint store from real
partition scorers, the answer checked against the index model run directly on the same states,
roles, limits, CSV, a new checkpoint seen at once, and ``riskmon whatif --from-db``."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dashboard_ws.api.service import HistoryApi
from indices import AddFacilities, Reinspect, what_if
from streams.city.config import CityConfig
from streams.contract import FacilityFact, Incident, InspectionFact, LocatedEvent
from streams.persistence import db
from streams.persistence.checkpoints import PgCheckpointStore
from streams.pipeline.scoring import (
    PartitionScorer,
    ScoringContext,
    model_fingerprint,
)
from streams.settings import Settings
from tests.cities import exact_gimpo_config, gimpo_city_toml
from tests.principals import ADMIN, VIEWER, principal

pytestmark = pytest.mark.integration

PARTITIONS = 2
KST = ZoneInfo("Asia/Seoul")
T0 = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
ANALYST = principal("analyst", "ana")
OPERATOR = principal("operator", "opi")
BRIDGE = "fms-bridge-0007"  # a D-graded structure in 장기동
JANGGI = "4157056000"


def located(code: str, n: int, event: Any) -> LocatedEvent:
    kind = "incident" if isinstance(event, Incident) else "safety"
    return LocatedEvent.model_validate(
        {
            "kind": kind,
            "district": code,
            "received_at": T0,
            "origin": f"test/0/{n}",
            kind: event,
        }
    )


def district_events(code: str, index: int) -> list[Any]:
    """Facilities in proportion to the district's place, a fire here and there, a bad bridge."""
    month_ago = T0 - timedelta(days=30)
    events: list[Any] = [
        FacilityFact(
            id=f"f-{code}-{n}", source="gimpo-city", facility_id=f"cam-{code}-{n}",
            facility="cctv", action="added", effective_at=month_ago, code=code,
        )
        for n in range(5 + 7 * index)
    ]  # fmt: skip
    if index % 3 == 0:
        fire = Incident(
            id=f"F-{code}", source="gimpo-fire", type="fire", severity=4,
            occurred_at=T0 - timedelta(hours=2), code=code,
        )  # fmt: skip
        events.append(fire)
    if code == JANGGI:
        bridge = InspectionFact(
            id="insp-1", source="gimpo-fms", structure_id=BRIDGE, grade="D",
            effective_at=T0 - timedelta(days=90), code=code,
        )  # fmt: skip
        events.append(bridge)
    return events


def scorers(config: CityConfig) -> list[PartitionScorer]:
    ctx = ScoringContext(config.city.model_districts(), config.params)
    built = []
    for partition in range(PARTITIONS):
        codes = config.city.codes_of_partition(partition, PARTITIONS)
        scorer = PartitionScorer(partition, codes)
        batch = [
            located(code, 0, event)
            for code in codes
            for event in district_events(code, config.city.codes.index(code))
        ]
        scorer.process(list(enumerate(batch)), ctx, T0)
        built.append(scorer)
    return built


async def save(dsn: str, config: CityConfig, scorer: PartitionScorer, at: datetime) -> None:
    settings = Settings(pg_dsn=dsn)
    store = PgCheckpointStore(dsn, settings.app_id, settings.topics.located)
    try:
        checkpoint = scorer.to_checkpoint(model_fingerprint(config.params))
        await store.save(scorer.partition, checkpoint, at)
    finally:
        await store.close()


@pytest.fixture
async def setup(pg_dsn: str) -> Any:
    config = exact_gimpo_config()
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
    finally:
        await conn.close()
    built = scorers(config)
    for scorer in built:
        await save(pg_dsn, config, scorer, T0)
    api = HistoryApi(Settings(pg_dsn=pg_dsn), config.city.codes, ["composite"], city=config)
    yield api, config, built, pg_dsn
    await api.close()


async def call(api: HistoryApi, query: str, who: Any = ANALYST) -> tuple[int, Any]:
    status, body = await api.handle("/api/whatif", query, who)
    return status, json.loads(body)


def states_of(built: list[PartitionScorer]) -> dict[str, Any]:
    return {code: slot.state for s in built for code, slot in s.slots.items()}


async def test_the_ranking_is_the_model_run_on_the_checkpointed_states(setup: Any) -> None:
    api, config, built, _ = setup
    status, answer = await call(api, "change=cctv&count=3")
    assert status == 200, answer
    assert answer["basis"]["source"] == "checkpoints"
    assert answer["basis"]["empty"] == []
    assert answer["basis"]["saved_at"] == T0.isoformat().replace("+00:00", "Z")
    rows = answer["districts"]
    assert sorted(r["district"] for r in rows) == sorted(config.city.codes)
    assert [r["rank"] for r in rows] == list(range(1, 15))
    reductions = [r["risk_reduction_per_item"] for r in rows]
    assert reductions == sorted(reductions, reverse=True)
    # the oracle: indices.what_if on the scorers' own states, at the answer's time
    at = datetime.fromisoformat(answer["at"]).timestamp()
    districts = config.city.model_districts()
    states = states_of(built)
    for row in rows:
        expected = what_if(
            states[row["district"]], districts[row["district"]], config.params,
            AddFacilities("cctv", 3), at,
        )  # fmt: skip
        assert row["composite"]["before"] == expected.composite.before
        assert row["composite"]["after"] == expected.composite.after
        assert row["safety"]["after"] == expected.safety.after
        assert row["groups"]["calamity"]["change"] == expected.groups["calamity"].change
        assert row["items"] == 3
        assert row["risk_reduction"] == row["composite"]["before"] - row["composite"]["after"]
    # the district with the fewest cameras per resident gains most safety per camera
    safety = await call(api, "change=cctv&count=3&by=safety")
    gains = [r["safety_gain_per_item"] for r in safety[1]["districts"]]
    assert gains == sorted(gains, reverse=True)


async def test_one_district_a_reinspection_and_csv(setup: Any) -> None:
    api, config, built, _ = setup
    status, one = await call(api, f"change=police_box&district={JANGGI}")
    assert status == 200
    assert [r["district"] for r in one["districts"]] == [JANGGI]
    status, bridge = await call(api, f"change=inspection&structure={BRIDGE}&grade=B")
    assert status == 200, bridge
    [row] = bridge["districts"]
    assert (row["district"], bridge["structure_id"], bridge["grade"]) == (JANGGI, BRIDGE, "B")
    expected = what_if(
        states_of(built)[JANGGI], config.city.model_districts()[JANGGI], config.params,
        Reinspect(BRIDGE, "B"), datetime.fromisoformat(bridge["at"]).timestamp(),
    )  # fmt: skip
    assert row["coping_lack"]["change"] == expected.coping_lack.change < 0.0
    status, missing = await call(api, "change=inspection&structure=no-such-bridge")
    assert (status, missing["error"], missing["parameter"]) == (404, "not_found", None)
    answer = await api.respond("/api/whatif", "change=hydrant&count=2&format=csv", ANALYST)
    assert answer.status == 200
    assert answer.content_type.startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(answer.body.decode())))
    assert len(table) == 14
    assert [int(r["rank"]) for r in table] == list(range(1, 15))
    assert {r["change"] for r in table} == {"hydrant"}


async def test_roles_and_limits(setup: Any) -> None:
    api, _, _, _ = setup
    for who in (VIEWER, OPERATOR):
        status, refused = await call(api, "change=cctv", who)
        assert (status, refused["error"]) == (403, "forbidden")
        assert "analyst" in refused["detail"]
    assert (await call(api, "change=cctv", ADMIN))[0] == 200
    bad = {
        "change=cctv&count=0": "count",
        "change=cctv&count=101": "count",
        "change=cctv&count=1e3": "count",
        "change=cctv&count=-1": "count",
        "change=helipad": "change",
        "count=2": "change",
        "change=cctv&structure=x": "structure",
        "change=cctv&grade=B": "grade",
        "change=inspection": "structure",
        "change=inspection&structure=x&count=2": "count",
        "change=inspection&structure=x&grade=F": "grade",
        "change=cctv&district=1234567890": "district",
        "change=cctv&by=cost": "by",
        "change=cctv&count=1&count=2": "count",
        "change=cctv&at=2026-11-25T00:00:00Z": "at",
    }
    for query, parameter in bad.items():
        status, problem = await call(api, query)
        assert (status, problem["parameter"]) == (400, parameter), (query, problem)
    assert (await call(api, "change=cctv&count=100"))[0] == 200


async def test_a_new_checkpoint_is_read_at_once(setup: Any) -> None:
    api, config, built, dsn = setup
    _, first = await call(api, f"change=cctv&district={JANGGI}")
    scorer = next(s for s in built if JANGGI in s.slots)
    ctx = ScoringContext(config.city.model_districts(), config.params)
    shelters = [
        located(JANGGI, 0, FacilityFact(
            id=f"sh-{n}", source="gimpo-city", facility_id=f"shelter-{n}", facility="shelter",
            action="added", effective_at=T0, code=JANGGI,
        ))
        for n in range(20)
    ]  # fmt: skip
    scorer.process(list(enumerate(shelters, start=scorer.next_offset)), ctx, T0)
    await save(dsn, config, scorer, T0 + timedelta(minutes=1))
    _, second = await call(api, f"change=cctv&district={JANGGI}")
    [before], [after] = first["districts"], second["districts"]
    assert after["safety"]["before"] > before["safety"]["before"]
    assert after["risk_reduction"] < before["risk_reduction"]  # diminishing returns


async def test_without_a_usable_checkpoint_the_answer_is_503(pg_dsn: str) -> None:
    config = exact_gimpo_config()
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
    finally:
        await conn.close()
    api = HistoryApi(Settings(pg_dsn=pg_dsn), config.city.codes, ["composite"], city=config)
    try:
        status, answer = await call(api, "change=cctv")
        assert (status, answer["error"]) == (503, "unavailable")
        scorer = scorers(config)[0]
        settings = Settings(pg_dsn=pg_dsn)
        store = PgCheckpointStore(pg_dsn, settings.app_id, settings.topics.located)
        await store.save(0, scorer.to_checkpoint("another-model"), T0)
        await store.close()
        status, answer = await call(api, "change=cctv")
        assert status == 503
        assert "another model" in answer["detail"]
    finally:
        await api.close()
    no_db = HistoryApi(Settings(pg_dsn=None), config.city.codes, ["composite"], city=config)
    assert (await call(no_db, "change=cctv"))[0] == 503


async def riskmon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "streams.cli", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_the_cli_reads_the_same_checkpoints(setup: Any, tmp_path: Path) -> None:
    _, config, built, dsn = setup
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKMON_")}
    env["RISKMON_PG_DSN"] = dsn
    at = datetime(2026, 11, 25, 14, 0, tzinfo=KST)
    city = str(gimpo_city_toml(tmp_path))
    done = await riskmon(
        "whatif", "--city", city, "--change", "cctv", "--count", "3", "--from-db",
        "--at", at.isoformat(), "--json", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["basis"]["source"] == "checkpoints"
    assert datetime.fromisoformat(answer["at"]) == at
    states, districts = states_of(built), config.city.model_districts()
    for row in answer["districts"]:
        code = row["district"]
        expected = what_if(
            states[code], districts[code], config.params, AddFacilities("cctv", 3),
            at.timestamp(),
        )  # fmt: skip
        assert row["risk_reduction"] == expected.risk_reduction
        assert row["safety"]["after"] == expected.safety.after
    # a database without checkpoints: a reason on stderr and exit status 2, no traceback
    env["RISKMON_PG_DSN"] = dsn.replace("riskmon_test_", "riskmon_nothere_")
    done = await riskmon("whatif", "--city", city, "--change", "cctv", "--from-db", env=env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
