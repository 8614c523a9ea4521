"""`riskmon score`: the worker's steps offline; rejected lines are reported with their reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indices import score_batch
from streams.cli.main import main
from streams.contract import Incident, LocatedEvent, SensorReading
from streams.pipeline.offline import locate_line, score_lines
from streams.pipeline.scoring import PartitionScorer, ScoringContext, to_model_event
from tests.cities import exact_gimpo_config

CONFIG = exact_gimpo_config()
AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
JANGGI = "4157056000"


def lines() -> list[bytes]:
    fire = Incident(
        id="f1",
        source="fire",
        type="fire",
        severity=4,
        occurred_at=AT - timedelta(hours=1),
        lat=37.6385,
        lon=126.6791,
    )
    theft = Incident(
        id="t1",
        source="police",
        type="theft",
        severity=2,
        occurred_at=AT - timedelta(hours=3),
        code="4157051500",
    )
    rain = SensorReading(
        sensor_id="aws-1",
        kind="rainfall_mm_1h",
        value=42.0,
        observed_at=AT - timedelta(minutes=10),
        code=JANGGI,
    )
    located = LocatedEvent(
        kind="incident",
        district=JANGGI,
        received_at=AT,
        origin="x/0/1",
        incident=Incident(
            id="f2", source="fire", type="explosion", severity=2, occurred_at=AT, code=JANGGI
        ),
    )
    return [m.model_dump_json().encode() for m in (fire, theft, rain, located)] + [
        fire.model_dump_json().encode(),  # duplicate
        b"{not json",
        b"",
        json.dumps(
            {
                "id": "x",
                "source": "s",
                "type": "fire",
                "severity": 2,
                "occurred_at": AT.isoformat(),
                "lat": 37.5665,
                "lon": 126.978,
            }
        ).encode(),
    ]


def test_counts_rejections_and_scores() -> None:
    result = score_lines(lines(), CONFIG, AT)
    assert len(result.districts) == 14
    assert dict(result.counts) == {"applied": 4, "duplicate": 1, "rejected": 2}
    assert [(n, d.error) for n, d in result.rejected] == [(6, "not_json"), (8, "outside_city")]
    janggi = next(d for d in result.districts if d.district == JANGGI)
    assert janggi.events == 2
    assert {c.event_id for c in janggi.contributors["fire"]} == {"fire:f1", "fire:f2"}
    assert janggi.domains["flood_weather"].sensor_hazard > 0


def test_a_located_event_of_another_city_is_rejected_not_a_crash() -> None:
    seoul = LocatedEvent(
        kind="incident",
        district="1111000000",
        received_at=AT,
        origin="x/0/2",
        incident=Incident(
            id="s1", source="fire", type="fire", severity=2, occurred_at=AT, code="1111000000"
        ),
    )
    result = score_lines([seoul.model_dump_json().encode()], CONFIG, AT)
    [(number, letter)] = result.rejected
    assert (number, letter.error) == (1, "unknown_district")
    assert "1111000000" in letter.reason


def test_offline_equals_the_worker_path_and_the_batch_twin() -> None:
    ctx = ScoringContext(CONFIG.city.model_districts(), CONFIG.params)
    offline = {d.district: d for d in score_lines(lines(), CONFIG, AT).districts}
    scorer = PartitionScorer(0, CONFIG.city.codes)
    located = []
    for number, line in enumerate(lines(), 1):
        event = locate_line(number, line, CONFIG, AT)
        if isinstance(event, LocatedEvent):
            located.append((number, event))
    scorer.process(located, ctx, AT)
    for code, slot in scorer.slots.items():
        district = ctx.districts[code]
        worker = slot.state.evaluate(district, CONFIG.params, AT.timestamp())
        oracle = score_batch(
            district,
            [to_model_event(e.event) for _, e in located if e.district == code],
            CONFIG.params,
            AT.timestamp(),
        )
        assert offline[code].composite.value == pytest.approx(worker.composite, abs=1e-12)
        assert offline[code].composite.value == pytest.approx(oracle.composite, abs=1e-9)


def test_cli_prints_json_and_reports_skipped_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines()))
    with pytest.raises(SystemExit) as done:
        main(["score", "--events", str(events), "--at", AT.isoformat(), "--json"])
    assert done.value.code == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["as_of"] == AT.isoformat()
    assert len(document["districts"]) == 14
    internal = document["city_internal_grades"]
    assert "city-internal" in internal["note"]
    assert sorted(internal["composite"].values()) == [1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5]
    worst = max(document["districts"], key=lambda d: d["composite"]["value"])
    assert internal["composite"][worst["district"]] == 5
    assert f"{events}:6: skipped (not_json)" in err


def test_cli_table_and_unreadable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines()))
    with pytest.raises(SystemExit) as done:
        main(["score", "--events", str(events), "--at", AT.isoformat()])
    assert done.value.code == 0
    assert "장기동" in capsys.readouterr().out
    with pytest.raises(SystemExit) as failed:
        main(["score", "--events", str(tmp_path / "missing.jsonl")])
    assert failed.value.code == 2
    with pytest.raises(SystemExit):
        main(["score", "--events", str(events), "--at", "2026-11-24T12:00:00"])  # no offset
    assert "no UTC offset" in capsys.readouterr().err


# --- an event in one district changes no other district (issue: index-model invariants) -------

CODES = sorted(CONFIG.city.codes)


@st.composite
def incident_lines(draw: st.DrawFn) -> list[bytes]:
    """Incidents placed by district code, of any counted type, severity and recent time."""
    count = draw(st.integers(1, 12))
    out = []
    for n in range(count):
        out.append(
            Incident(
                id=f"e{n}",
                source=draw(st.sampled_from(["fire", "police", "city"])),
                type=draw(st.sampled_from(sorted(CONFIG.params.incident_domain))),
                severity=draw(st.integers(1, 5)),
                occurred_at=AT - timedelta(seconds=draw(st.integers(0, 7 * 86_400))),
                code=draw(st.sampled_from(CODES)),
            )
            .model_dump_json()
            .encode()
        )
    return out


@settings(max_examples=25, deadline=None)
@given(
    base=incident_lines(),
    code=st.sampled_from(CODES),
    severity=st.integers(1, 5),
    hours_ago=st.floats(0, 72),
)
def test_an_incident_in_one_district_changes_no_other_district(
    base: list[bytes], code: str, severity: int, hours_ago: float
) -> None:
    extra = Incident(
        id="added",
        source="probe",
        type="fire",
        severity=severity,
        occurred_at=AT - timedelta(hours=hours_ago),
        code=code,
    )
    before = {d.district: d for d in score_lines(base, CONFIG, AT).districts}
    after = {
        d.district: d
        for d in score_lines([*base, extra.model_dump_json().encode()], CONFIG, AT).districts
    }
    for other in CODES:
        if other != code:
            assert after[other] == before[other], other
    assert after[code].domains["fire"].hazard >= before[code].domains["fire"].hazard
