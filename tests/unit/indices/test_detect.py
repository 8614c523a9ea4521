"""The spike detector: persistence, batch twin == incremental, behaviour on the cases that matter
(level shift, daily cycle, gaps, outliers, noise bursts), the benchmark and its harness, and the
must-show: precision and recall ≥ 0.9 on the repo's labelled set."""

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
from indices.detect import (
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


def incremental(
    ts: np.ndarray, xs: np.ndarray, state: DetectorState | None = None
) -> list[Detection]:
    state = state or DetectorState()
    return [state.update(t, x, PARAMS) for t, x in zip(ts.tolist(), xs.tolist(), strict=True)]


def assert_same(batch: BatchDetections, points: list[Detection]) -> None:
    assert batch.scores.tolist() == [d.score for d in points]
    assert batch.anomalies.tolist() == [d.anomaly for d in points]
    assert batch.alarms.tolist() == [d.alarm for d in points]
    assert batch.baselines.tolist() == [d.baseline for d in points]
    assert batch.spreads.tolist() == [d.spread for d in points]


def normal_series(
    days: float, seed: int = 0, noise: float = 0.05, amplitude: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Irregular 5–60 s sampling, a daily cycle of ``amplitude``, Gaussian noise: all normal."""
    rng = np.random.default_rng(seed)
    t = T0 + np.cumsum(rng.uniform(5.0, 60.0, int(days * DAY / 32)))
    x = 4.0 + amplitude * np.sin(2 * np.pi * t / DAY) + noise * rng.standard_normal(len(t))
    return t, x


# --- persistence --------------------------------------------------------------------------------


def test_state_round_trips_through_json_exactly_and_continues_identically() -> None:
    series = generate(REPO_SET[0])
    t, x = series.t, series.x
    onset = series.anomalies[0].onset
    cut = int(np.searchsorted(t, onset)) + 3  # inside an open alarm episode
    state = DetectorState()
    incremental(t[:cut], x[:cut], state)
    assert state.episode_since is not None
    copy = DetectorState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert copy == state
    assert copy.to_dict() == state.to_dict()
    assert incremental(t[cut:], x[cut:], copy) == incremental(t[cut:], x[cut:], state)


@pytest.mark.parametrize(
    "change",
    [
        {"format": 2},
        {"n": -1},
        {"n": 1.5},
        {"s1": float("nan")},
        {"s1": "1.0"},
        {"cusum": True},
        {"t_last": None},
    ],
)
def test_from_dict_refuses_what_to_dict_did_not_write(change: dict[str, object]) -> None:
    data = DetectorState().to_dict() | change
    with pytest.raises(InvalidState):
        DetectorState.from_dict(data)
    with pytest.raises(InvalidState):
        DetectorState.from_dict({k: v for k, v in DetectorState().to_dict().items() if k != "s2"})


def test_invalid_params_and_points_are_refused() -> None:
    with pytest.raises(InvalidConfig, match="level_tau_s"):
        DetectorParams(level_tau_s=0.0)
    with pytest.raises(InvalidConfig, match="cusum_cap"):
        DetectorParams(cusum_h=10.0, cusum_cap=5.0)
    with pytest.raises(InvalidEvent):
        DetectorState().update(T0, math.nan, PARAMS)
    with pytest.raises(InvalidEvent, match="point 1"):
        detect_batch([T0, math.inf], [1.0, 2.0], PARAMS)
    with pytest.raises(InvalidEvent):
        detect_batch([T0, T0 + 1], [1.0], PARAMS)


# --- batch twin ---------------------------------------------------------------------------------


def test_batch_twin_equals_incremental_on_a_benchmark_series() -> None:
    series = generate(REPO_SET[1])
    state = DetectorState()
    points = incremental(series.t, series.x, state)
    batch = detect_batch(series.t, series.x, PARAMS)
    assert_same(batch, points)
    assert batch.state == state
    assert batch.alarms.any()


def test_batch_twin_continues_from_a_state() -> None:
    series = generate(REPO_SET[2])
    whole = detect_batch(series.t, series.x, PARAMS)
    cut = len(series.t) // 3
    head = detect_batch(series.t[:cut], series.x[:cut], PARAMS)
    tail = detect_batch(series.t[cut:], series.x[cut:], PARAMS, head.state)
    assert np.array_equal(np.concatenate([head.scores, tail.scores]), whole.scores)
    assert tail.state == whole.state
    assert head.state.n == cut  # the given state is copied, not mutated


points = st.lists(
    st.tuples(
        st.one_of(st.floats(0.0, 120.0), st.floats(-30.0, 0.0), st.floats(3600.0, 4 * 3600.0)),
        st.one_of(st.floats(0.0, 10.0), st.sampled_from([0.0, 2.0, 9.5])),
    ),
    max_size=150,
)


@settings(max_examples=150, deadline=None)
@given(points, st.booleans())
def test_batch_twin_equals_incremental_on_any_series(
    steps: list[tuple[float, float]], short_warmup: bool
) -> None:
    params = replace(PARAMS, warmup_s=60.0, warmup_points=3) if short_warmup else PARAMS
    ts = (T0 + np.cumsum([dt for dt, _ in steps])) if steps else np.zeros(0)
    xs = np.array([x for _, x in steps], dtype=np.float64)  # negative steps: out of order
    state = DetectorState()
    detections = [state.update(t, x, params) for t, x in zip(ts.tolist(), xs.tolist(), strict=True)]
    batch = detect_batch(ts, xs, params)
    assert batch.scores.tolist() == [d.score for d in detections]
    assert batch.alarms.tolist() == [d.alarm for d in detections]
    assert batch.baselines.tolist() == [d.baseline for d in detections]
    assert batch.state == state
    assert all(0.0 <= d.score <= 1.0 for d in detections)
    assert all(d.anomaly == (d.score >= 0.5) for d in detections)


def test_cusum_candidate_runner_is_the_detector() -> None:
    series = generate(REPO_SET[3])
    alarms = run_rule(series.t, series.x, PARAMS, Cusum(PARAMS))
    assert np.array_equal(alarms, detect_batch(series.t, series.x, PARAMS).alarms)


# --- behaviour ----------------------------------------------------------------------------------


def test_scores_stay_in_unit_interval_on_the_benchmark() -> None:
    series = generate(REPO_SET[4])
    scores = detect_batch(series.t, series.x, PARAMS).scores
    assert scores.min() >= 0.0
    assert scores.max() <= 1.0
    assert scores.max() > 0.9


def test_daily_cycle_and_drift_alone_give_no_alarm() -> None:
    t, x = normal_series(days=5.0)
    x += 0.3 * (t - T0) / DAY  # slow drift on top of the cycle
    result = detect_batch(t, x, PARAMS)
    assert not result.alarms.any()
    assert result.scores.max() < 0.5


def test_level_shift_is_reported_once_then_the_baseline_adapts() -> None:
    t, x = normal_series(days=2.0, amplitude=0.5)
    onset = T0 + DAY
    x = x + np.where(t >= onset, 2.0, 0.0)
    result = detect_batch(t, x, PARAMS)
    alarm_times = t[result.alarms]
    assert len(alarm_times) == 1
    assert onset <= alarm_times[0] <= onset + 120.0
    later = t >= onset + 2 * HOUR
    base_error = result.baselines[later] - (4.0 + 0.5 * np.sin(2 * np.pi * t[later] / DAY) + 2.0)
    assert np.abs(base_error).max() < 0.2  # the new level is the normal now
    assert result.scores[later].max() < 0.5


def test_spike_alarms_once_and_the_episode_closes() -> None:
    t, x = normal_series(days=1.0, amplitude=0.3)
    onset = T0 + 12 * HOUR
    x = x + np.where((t >= onset) & (t < onset + 1800.0), 1.5, 0.0)
    result = detect_batch(t, x, PARAMS)
    assert t[result.alarms].tolist() == [t[t >= onset][1]]  # the second point of the rise
    assert result.state.episode_since is None  # closed after calm


def test_single_outlier_and_noise_burst_do_not_alarm() -> None:
    t, x = normal_series(days=1.0, seed=3, amplitude=0.3)
    x[len(x) // 3] += 5.0  # one wild point
    rng = np.random.default_rng(4)
    burst = (t >= T0 + 14 * HOUR) & (t < T0 + 15 * HOUR)
    x[burst] += 0.15 * rng.standard_normal(burst.sum())  # ×3 noise for an hour
    assert not detect_batch(t, x, PARAMS).alarms.any()


def test_gaps_widen_the_spread_but_a_big_jump_after_one_still_alarms() -> None:
    t, x = normal_series(days=1.0, amplitude=0.0)
    gap = (t > T0 + 8 * HOUR) & (t < T0 + 11 * HOUR)
    moved = x + np.where(t >= T0 + 11 * HOUR, 0.6, 0.0)  # wandered while unseen
    result = detect_batch(t[~gap], moved[~gap], PARAMS)
    assert not result.alarms.any()
    after = int(np.searchsorted(t[~gap], T0 + 11 * HOUR))
    assert result.spreads[after] > 10 * result.spreads[after - 1]
    jumped = x + np.where(t >= T0 + 11 * HOUR, 5.0, 0.0)  # an incident while unseen
    alarms = detect_batch(t[~gap], jumped[~gap], PARAMS).alarms
    assert alarms.nonzero()[0].tolist() == [after + 1]


def test_time_going_back_counts_as_no_time() -> None:
    state, twin = DetectorState(), DetectorState()
    for i in range(10):
        state.update(T0 + 10.0 * i, 2.0, PARAMS)
        twin.update(T0 + 10.0 * i, 2.0, PARAMS)
    assert state.update(T0 + 50.0, 2.1, PARAMS) == twin.update(T0 + 90.0, 2.1, PARAMS)
    assert state == twin


# --- the benchmark and the harness --------------------------------------------------------------


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
    result = harness(lambda t, x: detect_batch(t, x, PARAMS).alarms, REPO_SET)
    assert result.anomalies >= 60
    assert result.days >= 60.0
    assert result.precision >= 0.9, result.summary()
    assert result.recall >= 0.9, result.summary()
    assert result.false_alarms_per_day <= 0.1, result.summary()
    assert 0.0 < result.delay_s(50) <= result.delay_s(90) < 180.0, result.summary()


@pytest.mark.slow
def test_the_detector_beats_the_candidates_on_the_repo_set() -> None:
    results = compare(REPO_SET)
    f1 = {
        name: 2 * r.precision * r.recall / (r.precision + r.recall) for name, r in results.items()
    }
    assert max(f1, key=lambda name: f1[name]) == "cusum"
