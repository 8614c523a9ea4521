"""The anomaly detector (indices.detect): persistence, the batch twin, behaviour on the shapes it
must handle, directions, and the must-show on the repo's labelled index series."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.detect_research.candidates import Cusum, compare, run_rule
from bench.detect_research.evaluation import (
    GRACE_S,
    REPO_SET,
    Anomaly,
    Episode,
    LabelledSeries,
    SeriesSpec,
    evaluate,
    generate,
    harness,
)
from bench.detect_research.legacy import LegacyParams
from bench.detect_research.legacy import detect_batch as legacy_batch
from indices.detect import (
    INDEX_PARAMS,
    STATE_FORMAT,
    BatchDetections,
    Detection,
    DetectorParams,
    DetectorState,
    detect_batch,
)
from indices.errors import InvalidConfig, InvalidEvent, InvalidState

T0 = 1_795_000_000.0
HOUR = 3600.0
DAY = 86_400.0
PARAMS = DetectorParams()
ALL_PARAMS = [
    PARAMS,
    DetectorParams(direction="up"),
    DetectorParams(direction="down"),
    INDEX_PARAMS,
]


def incremental(
    ts: np.ndarray,
    xs: np.ndarray,
    params: DetectorParams = PARAMS,
    state: DetectorState | None = None,
) -> list[Detection]:
    state = state or DetectorState()
    return [state.update(t, x, params) for t, x in zip(ts.tolist(), xs.tolist(), strict=True)]


def assert_same(batch: BatchDetections, points: list[Detection]) -> None:
    assert batch.scores.tolist() == [d.score for d in points]
    assert batch.likelihoods.tolist() == [d.likelihood for d in points]
    assert batch.anomalies.tolist() == [d.anomaly for d in points]
    assert batch.alarms.tolist() == [d.alarm for d in points]
    assert batch.baselines.tolist() == [d.baseline for d in points]
    assert batch.spreads.tolist() == [d.spread for d in points]


def noisy(n: int, seed: int = 0, level: float = 10.0, noise: float = 1.0) -> np.ndarray:
    return level + noise * np.random.default_rng(seed).standard_normal(n)


def minutes(n: int) -> np.ndarray:
    return T0 + 60.0 * np.arange(n, dtype=np.float64)


# --- persistence --------------------------------------------------------------------------------


def test_state_round_trips_through_json_exactly_and_continues_identically() -> None:
    x = noisy(400)
    x[300:310] += 8.0
    t = minutes(400)
    state = DetectorState()
    incremental(t[:305], x[:305], state=state)
    assert state.episode  # mid-episode: the flag and the calm count travel too
    copy = DetectorState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert copy == state
    assert copy.to_dict()["format"] == STATE_FORMAT == 3
    assert incremental(t[305:], x[305:], state=copy) == incremental(t[305:], x[305:], state=state)


def test_a_format_2_state_is_read_with_an_empty_slope_memory() -> None:
    t, x = minutes(100), noisy(100)
    state = DetectorState()
    incremental(t[:60], x[:60], INDEX_PARAMS, state)
    assert state.lag != 0.0
    data = state.to_dict()
    del data["lag"]
    old = DetectorState.from_dict({**data, "format": 2})
    assert old.lag == 0.0
    assert {**old.to_dict(), "lag": state.lag} == state.to_dict()
    assert old.to_dict()["format"] == 3
    incremental(t[60:], x[60:], PARAMS, old)  # continues (the default path ignores lag)


@pytest.mark.parametrize(
    "change",
    [
        {"format": 1},
        {"format": 2},  # format 2 has no lag
        {"format": 4},
        {"format": None},
        {"lag": math.inf},
        {"level": math.nan},
        {"n": -1},
        {"n": 1.5},
        {"calm": True},
        {"episode": 1},
        {"peak": "0.1"},
        {"extra": 0.0},
    ],
)
def test_from_dict_refuses_what_to_dict_did_not_write(change: dict[str, object]) -> None:
    data = {**DetectorState().to_dict(), **change}
    with pytest.raises(InvalidState):
        DetectorState.from_dict(data)


def test_a_checkpoint_of_the_previous_detector_is_refused_with_a_clear_error() -> None:
    t, x = minutes(50), noisy(50)
    old = legacy_batch(t, x, LegacyParams()).state.to_dict()
    assert old["format"] == 1
    with pytest.raises(InvalidState, match=r"format 1, not 3 \(or 2\).*start a fresh state"):
        DetectorState.from_dict(old)


def test_invalid_params_and_points_are_refused() -> None:
    for bad in (
        {"direction": "sideways"},
        {"level_alpha": 0.0},
        {"spread_alpha": 1.5},
        {"huber_c": math.inf},
        {"peak_decay": 1.0},
        {"min_spread": -0.1},
        {"threshold": 1.0},
        {"warmup_points": 0},
        {"calm_points": 2.5},
        {"level_tau_s": 0.0},
        {"spread_tau_s": math.nan},
        {"spread_slow_tau_s": -1.0},
        {"gap_drift_per_h": -0.1},
        {"gap_drift_per_h": math.inf},
        {"residual_max_dt_s": 0.0},
        {"slope_tau_s": 3600.0},  # needs level_tau_s
        {"level_tau_s": 300.0, "slope_tau_s": -1.0},
        {"slope_horizon_s": 0.0},
    ):
        with pytest.raises(InvalidConfig):
            replace(PARAMS, **bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent):
        DetectorState().update(math.nan, 1.0, PARAMS)
    with pytest.raises(InvalidEvent):
        DetectorState().update(0.0, math.inf, PARAMS)
    with pytest.raises(InvalidEvent, match="point 2"):
        detect_batch([0.0, 1.0, 2.0], [1.0, 2.0, math.nan], PARAMS)
    with pytest.raises(InvalidEvent):
        detect_batch([0.0, 1.0], [1.0], PARAMS)


# --- the batch twin -----------------------------------------------------------------------------


@pytest.mark.parametrize("params", ALL_PARAMS, ids=lambda p: f"{p.direction}-{p.threshold}")
def test_batch_twin_equals_incremental_on_a_benchmark_series(params: DetectorParams) -> None:
    series = generate(REPO_SET[0])
    state = DetectorState()
    points = incremental(series.t, series.x, params, state)
    batch = detect_batch(series.t, series.x, params)
    assert_same(batch, points)
    assert batch.state == state
    assert batch.alarms.any()


def test_batch_twin_continues_from_a_state() -> None:
    series = generate(REPO_SET[1])
    half = len(series.t) // 2
    first = detect_batch(series.t[:half], series.x[:half], PARAMS)
    second = detect_batch(series.t[half:], series.x[half:], PARAMS, state=first.state)
    whole = detect_batch(series.t, series.x, PARAMS)
    assert np.array_equal(np.r_[first.scores, second.scores], whole.scores)
    assert second.state == whole.state
    assert first.state.n == half  # the state handed in was copied, not changed


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.floats(-120.0, 600.0), min_size=1, max_size=80),
    values=st.lists(st.floats(-1e6, 1e6), min_size=80, max_size=80),
    direction=st.sampled_from(["up", "down", "both"]),
)
def test_batch_twin_equals_incremental_on_any_series(
    steps: list[float], values: list[float], direction: str
) -> None:
    params = replace(PARAMS, direction=direction, warmup_points=3)  # type: ignore[arg-type]
    t = T0 + np.cumsum(np.array(steps))  # steps back included
    x = np.array(values[: len(steps)])
    state = DetectorState()
    points = incremental(t, x, params, state)
    batch = detect_batch(t, x, params)
    assert_same(batch, points)
    assert batch.state == state
    assert state.t_last == t.max()
    assert all(0.0 <= d.score <= 1.0 and 0.0 <= d.likelihood <= 1.0 for d in points)


TIMED = DetectorParams(
    level_tau_s=300.0,
    spread_tau_s=900.0,
    spread_slow_tau_s=3600.0,
    residual_max_dt_s=60.0,
    slope_tau_s=1800.0,
    slope_horizon_s=7200.0,
    gap_drift_per_h=2.0,
)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.floats(-120.0, 7200.0), min_size=1, max_size=80),
    values=st.lists(st.floats(-1e6, 1e6), min_size=80, max_size=80),
    options=st.sampled_from(
        [
            {"level_tau_s": 120.0},
            {"spread_tau_s": 60.0, "spread_slow_tau_s": 600.0},
            {"gap_drift_per_h": 5.0},
            {"level_tau_s": 300.0, "spread_tau_s": 900.0, "gap_drift_per_h": 0.3},
            {"level_tau_s": 60.0, "slope_tau_s": 600.0, "spread_tau_s": 600.0},
            {"spread_tau_s": 600.0, "residual_max_dt_s": 30.0},
            {"level_tau_s": 300.0, "slope_tau_s": 900.0, "gap_drift_per_h": 0.5},
            {"level_tau_s": 300.0, "slope_tau_s": 900.0, "slope_horizon_s": 1800.0},
        ]
    ),
)
def test_batch_twin_equals_incremental_with_the_time_aware_options(
    steps: list[float], values: list[float], options: dict[str, float]
) -> None:
    params = replace(PARAMS, warmup_points=3, **options)  # type: ignore[arg-type]
    assert params.timed
    t = T0 + np.cumsum(np.array(steps))  # steps back and repeated times included
    x = np.array(values[: len(steps)])
    state = DetectorState()
    points = incremental(t, x, params, state)
    batch = detect_batch(t, x, params)
    assert_same(batch, points)
    assert batch.state == state
    assert state.t_last == t.max()
    half = len(steps) // 2
    first = detect_batch(t[:half], x[:half], params)
    second = detect_batch(t[half:], x[half:], params, state=first.state)
    assert second.state == state
    assert np.array_equal(np.r_[first.likelihoods, second.likelihoods], batch.likelihoods)
    copy = DetectorState.from_dict(json.loads(json.dumps(first.state.to_dict())))
    assert incremental(t[half:], x[half:], params, copy) == points[half:]


def test_without_the_time_aware_options_the_detector_ignores_the_clock() -> None:
    x = noisy(300)
    regular = detect_batch(minutes(300), x, PARAMS)
    irregular = detect_batch(
        T0 + np.cumsum(np.random.default_rng(1).uniform(1, 900, 300)), x, PARAMS
    )
    assert not PARAMS.timed
    assert np.array_equal(regular.likelihoods, irregular.likelihoods)
    assert np.array_equal(regular.baselines, irregular.baselines)


def test_time_aware_memories_are_times_not_point_counts() -> None:
    # The same level shift seen every 5 s and every 60 s: after 10 min the time-aware baseline
    # has followed it equally far (1 - e^-2 of the way); a per-point baseline has not.
    params = replace(PARAMS, level_tau_s=300.0, huber_c=50.0)
    for step in (5.0, 60.0):
        n = int(3600 / step)
        t = T0 + step * np.arange(2 * n, dtype=np.float64)
        x = np.where(np.arange(2 * n) < n, 10.0, 11.0) + 0.01 * np.sin(np.arange(2 * n))
        batch = detect_batch(t, x, params)
        at = n + int(600 / step)  # 10 min after the shift
        assert batch.baselines[at] - 10.0 == pytest.approx(1.0 - math.exp(-2.0), abs=0.02)


def test_gap_drift_widens_sigma_by_the_unseen_time_and_lets_the_baseline_catch_up() -> None:
    t = np.r_[minutes(120), T0 + 119 * 60.0 + 3 * HOUR + 60.0 * np.arange(1, 30)]
    x = np.r_[noisy(120, noise=0.1), noisy(29, seed=1, level=12.0, noise=0.1)]  # moved unseen
    plain = detect_batch(t, x, replace(PARAMS, level_tau_s=600.0))
    grown = detect_batch(t, x, replace(PARAMS, level_tau_s=600.0, gap_drift_per_h=1.0))
    unseen_h = (t[120] - t[119]) / HOUR  # 3 h and a minute
    assert grown.spreads[120] == pytest.approx(math.hypot(plain.spreads[120], unseen_h), rel=1e-3)
    assert grown.spreads[121] < 0.5  # one point later σ is the learnt one again
    assert not grown.alarms[120:].any()
    assert plain.alarms[120:].any()


@pytest.mark.parametrize("horizon", [None, 3600.0])
def test_sigma_grows_across_a_gap_by_the_baselines_own_slope(horizon: float | None) -> None:
    # A series rising 1 unit an hour: the lag memory learns the slope (lag ≈ b·τ), and a 2-hour
    # gap widens σ by ≈ b·Δt = 2 units (damped over 1 h: b·1h·(1 - e^-2) = 0.86); a flat series
    # gets no growth worth the name.
    params = replace(
        PARAMS,
        level_tau_s=300.0,
        slope_tau_s=1800.0,
        slope_horizon_s=horizon,
        residual_max_dt_s=60.0,
    )
    t = np.r_[minutes(300), T0 + 299 * 60.0 + 2 * HOUR + 60.0 * np.arange(1, 5)]
    rising = 10.0 + (t - T0) / HOUR + noisy(len(t), level=0.0, noise=0.05)
    flat = noisy(len(t), noise=0.05)
    before = detect_batch(t[:300], rising[:300], params).state
    assert before.lag / 300.0 * HOUR == pytest.approx(1.0, rel=0.15)  # slope/h (+Δt/2 lag)
    up = detect_batch(t, rising, params)
    level = detect_batch(t, flat, params)
    moved = 2.0 if horizon is None else 1.0 - math.exp(-2.0)
    assert up.spreads[300] == pytest.approx(moved, rel=0.15)
    assert level.spreads[300] < 0.1
    assert not up.alarms[300:].any()  # the rise continued while unseen: normal
    assert abs(up.state.lag) < 2 * before.lag  # one point after the gap does not replace it


def test_index_params_alarm_on_an_incident_after_a_long_silence() -> None:
    # riskmon publishes only on change: a quiet district is silent for hours, then an incident
    # arrives. Silence is not doubt for a flat series: the jump alarms at once.
    for silence_h in (1.0, 6.0, 24.0):
        t1 = T0 + 30.0 * np.arange(240)
        t2 = t1[-1] + silence_h * HOUR + 5.0 * np.arange(60)
        x = np.r_[noisy(240, level=2.0, noise=0.02), noisy(60, seed=1, level=3.0, noise=0.02)]
        batch = detect_batch(np.r_[t1, t2], x, INDEX_PARAMS)
        assert not batch.alarms[:240].any()
        assert batch.alarms[240:243].any(), silence_h


def test_a_time_aware_point_that_steps_back_is_scored_but_not_learnt() -> None:
    state = DetectorState()
    for i, v in enumerate(noisy(60).tolist()):
        state.update(T0 + 60.0 * i, v, TIMED)
    level = state.level
    d = state.update(T0, 30.0, TIMED)
    assert d.alarm
    assert state.level == level
    assert state.t_last == T0 + 59 * 60.0


def test_the_legacy_cusum_candidate_runner_is_the_previous_detector() -> None:
    series = generate(REPO_SET[3])
    old = LegacyParams()
    alarms = run_rule(series.t, series.x, old, Cusum(old))
    assert np.array_equal(alarms, legacy_batch(series.t, series.x, old).alarms)


# --- behaviour ----------------------------------------------------------------------------------


def test_scores_are_continuous_in_the_unit_interval() -> None:
    series = generate(REPO_SET[2])
    batch = detect_batch(series.t, series.x, PARAMS)
    assert batch.scores.min() >= 0.0
    assert batch.scores.max() <= 1.0
    assert len(np.unique(batch.scores)) > 1000  # a threshold sweep is meaningful
    assert len(np.unique(batch.likelihoods)) > 1000


def test_warm_up_scores_nothing() -> None:
    x = noisy(30)
    x[5] = 1e6
    batch = detect_batch(minutes(30), x, PARAMS)
    assert not batch.scores[: PARAMS.warmup_points - 1].any()


@pytest.mark.parametrize(
    ("direction", "rise", "drop"),
    [("up", True, False), ("down", False, True), ("both", True, True)],
)
def test_directions(direction: str, rise: bool, drop: bool) -> None:
    params = replace(PARAMS, direction=direction)  # type: ignore[arg-type]
    x = noisy(600)
    x[200] += 12.0  # a spike up
    x[400] -= 12.0  # a spike down
    batch = detect_batch(minutes(600), x, params)
    assert bool(batch.alarms[200]) is rise
    assert bool(batch.alarms[400]) is drop
    assert bool(batch.scores[200] > 0.5) is rise
    assert bool(batch.scores[400] > 0.5) is drop
    quiet = np.ones(600, dtype=bool)
    quiet[[200, 400]] = False
    assert batch.scores[quiet].max() < batch.scores[200 if rise else 400]


def test_level_shift_scores_its_onset_once_then_becomes_normal() -> None:
    x = noisy(2000)
    x[1000:] += 10.0
    batch = detect_batch(minutes(2000), x, PARAMS)
    assert batch.scores[1000] > 0.5
    assert batch.alarms[1000:].sum() == 1
    assert batch.scores[1001:1100].max() < 0.5 * batch.scores[1000]  # the onset, not its tail
    assert abs(batch.baselines[-1] - 20.0) < 1.0  # the baseline followed
    assert not batch.anomalies[-200:].any()


def test_spike_alarms_once_and_the_episode_closes() -> None:
    x = noisy(800)
    x[300:306] += 15.0
    x[600:606] += 15.0
    batch = detect_batch(minutes(800), x, PARAMS)
    assert batch.alarms.nonzero()[0].tolist() == [300, 600]


def test_variance_change_is_noticed_and_then_learnt() -> None:
    x = noisy(3000)
    rng = np.random.default_rng(5)
    x[1500:] = 10.0 + 8.0 * rng.standard_normal(1500)
    batch = detect_batch(minutes(3000), x, PARAMS)
    assert batch.scores[1500:1520].max() > PARAMS.threshold
    assert batch.anomalies[1500:1600].any()
    assert batch.anomalies[-500:].mean() < 0.05


def test_flat_then_noisy_series_alarms_once_and_settles() -> None:
    x = np.zeros(1200)
    x[600:] = np.abs(noisy(600, level=0.0, noise=2.0))
    batch = detect_batch(minutes(1200), x, PARAMS)
    assert not batch.alarms[:600].any()
    assert batch.alarms[600]
    assert batch.spreads[-1] > 0.5
    assert batch.anomalies[-300:].mean() < 0.05


def test_sparse_counts_do_not_alarm_on_every_count() -> None:
    rng = np.random.default_rng(3)
    x = rng.poisson(0.05, 5000).astype(np.float64)
    batch = detect_batch(minutes(5000), x, PARAMS)
    counts = int((x[1000:] > 0).sum())
    assert batch.alarms[1000:].sum() < 0.25 * counts  # most counts pass (see docs: limits)


def test_daily_cycle_alone_gives_few_alarms() -> None:
    t = T0 + 300.0 * np.arange(4 * 288)  # 4 days every 5 min
    x = 50.0 + 20.0 * np.sin(2 * np.pi * t / DAY) + noisy(len(t), level=0.0, noise=1.0)
    batch = detect_batch(t, x, PARAMS)
    assert batch.alarms.sum() <= 4


def test_a_time_that_steps_back_is_scored_at_the_newest_time() -> None:
    state = DetectorState()
    x = noisy(60)
    for i, v in enumerate(x.tolist()):
        state.update(T0 + 60.0 * i, v, PARAMS)
    d = state.update(T0, 30.0, PARAMS)  # back to the start, and far off
    assert state.t_last == T0 + 59 * 60.0
    assert d.alarm
    assert d.score > 0.5


def test_generator_is_deterministic_and_well_formed() -> None:
    one, two = generate(SeriesSpec(7)), generate(SeriesSpec(7))
    assert np.array_equal(one.t, two.t)
    assert np.array_equal(one.x, two.x)
    assert one.anomalies == two.anomalies
    assert np.all(np.diff(one.t) > 0)
    assert one.x.min() >= 0.0
    assert one.x.max() <= 10.0
    steps = np.diff(one.t)
    assert np.median(steps) < 60.0
    assert steps.max() > 600.0
    kinds = {e.kind for e in one.episodes}
    assert {"gap", "noise_burst", "bump"} <= kinds
    windows = sorted((a.onset, a.end) for a in one.anomalies)
    assert all(end + GRACE_S < onset for (_, end), (onset, _) in itertools.pairwise(windows))


def test_harness_counts_on_a_hand_made_case() -> None:
    t = T0 + np.arange(0.0, 2 * DAY + 1, 60.0)
    series = LabelledSeries(
        name="hand",
        t=t,
        x=np.zeros(len(t)),
        anomalies=(
            Anomaly("spike", T0 + 3 * HOUR, T0 + 4 * HOUR, 1.0),
            Anomaly("level_shift", T0 + 20 * HOUR, T0 + 21 * HOUR, 1.0),
        ),
        episodes=(Episode("noise_burst", T0 + 10 * HOUR, T0 + 11 * HOUR),),
        noise=0.1,
    )
    alarms = np.array(
        [
            T0 + 3 * HOUR + 90.0,  # detects the spike, 90 s late
            T0 + 4 * HOUR + GRACE_S - 1.0,  # a repeat, still inside the grace
            T0 + 10.5 * HOUR,  # false, in the noise burst
            T0 + 30 * HOUR,  # false
        ]
    )
    result = evaluate(series, alarms)
    assert (result.anomalies, result.detected, result.alarms) == (2, 1, 4)
    assert (result.repeats, result.false_alarms) == (1, 2)
    assert result.precision == 0.25
    assert result.recall == 0.5
    assert result.false_alarms_per_day == pytest.approx(1.0)
    assert result.delays_s == (90.0,)
    assert result.delay_s(50) == 90.0
    assert result.by_kind == {"spike": (1, 1), "level_shift": (1, 0)}
    assert result.false_by_cause == {"noise_burst": 1, "other": 1}


def test_must_show_precision_and_recall_on_the_repo_labelled_set() -> None:
    result = harness(lambda t, x: detect_batch(t, x, INDEX_PARAMS).alarms, REPO_SET)
    assert result.anomalies >= 60
    assert result.days >= 60.0
    assert result.precision >= 0.95, result.summary()
    assert result.recall >= 0.9, result.summary()
    assert result.false_alarms_per_day <= 0.05, result.summary()
    assert 0.0 < result.delay_s(50) <= result.delay_s(90) < 180.0, result.summary()


@pytest.mark.slow
def test_the_previous_detector_beat_its_candidates_on_the_repo_set() -> None:
    results = compare(REPO_SET)
    f1 = {
        name: 2 * r.precision * r.recall / (r.precision + r.recall) for name, r in results.items()
    }
    assert max(f1, key=lambda name: f1[name]) == "cusum"
