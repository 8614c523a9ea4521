"""The NAB-style evaluation harness of bench/anomaly_eval.py: its rules on hand-made cases, the
windowed-Gaussian baseline, and (when the corpus is present) the must-show margin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.anomaly_eval import (
    DETECTORS,
    PROFILES,
    Series,
    default_corpus,
    evaluate,
    load_corpus,
    score_corpus,
    windowed_gaussian,
)

STANDARD = PROFILES["standard"]
START_CREDIT = 2.0 / (1.0 + math.exp(-5.0)) - 1.0  # σ(-1) ≈ 0.9866


def toy(windows: tuple[tuple[int, int], ...] = ((500, 509),), n: int = 1000) -> Series:
    return Series("toy", 60.0 * np.arange(n, dtype=np.float64), np.zeros(n), windows)


def test_profiles_are_nab_s() -> None:
    assert (STANDARD.tp, STANDARD.fp, STANDARD.fn) == (1.0, 0.11, 1.0)
    assert PROFILES["reward_low_FP_rate"].fp == 0.22
    assert PROFILES["reward_low_FN_rate"].fn == 2.0


def test_a_detection_at_the_window_start_is_perfect_and_never_detecting_is_zero() -> None:
    s = toy()
    scores = np.zeros(1000)
    scores[500] = 0.9
    result = score_corpus({"toy": scores}, [s], STANDARD)
    assert result.threshold == 0.9
    assert result.score == pytest.approx(100.0)
    assert result.perfect == pytest.approx(START_CREDIT)
    assert result.null == -1.0
    nothing = score_corpus({"toy": np.zeros(1000)}, [s], STANDARD)
    assert nothing.score == 0.0
    assert nothing.threshold == math.inf


def test_credit_falls_through_the_window_and_only_the_earliest_counts() -> None:
    s = toy()
    raws = []
    for at in (500, 503, 509):
        scores = np.zeros(1000)
        scores[at] = 1.0
        scores[509] = 1.0  # a later detection in the same window adds nothing
        raws.append(score_corpus({"toy": scores}, [s], STANDARD).raw)
    assert raws[0] == pytest.approx(START_CREDIT)
    assert raws[0] > raws[1] > raws[2] > 0.0
    assert raws[2] == pytest.approx(2.0 / (1.0 + math.exp(-0.5)) - 1.0)  # p = -1/10


def test_false_positives_cost_more_the_further_from_a_window() -> None:
    s = toy()
    costs = {}
    for at in (200, 510, 515, 600):  # before the window, right after, 0.67 widths, far after
        scores = np.zeros(1000)
        scores[500] = 1.0
        scores[at] = 1.0
        costs[at] = START_CREDIT - score_corpus({"toy": scores}, [s], STANDARD).raw
    assert costs[200] == pytest.approx(0.11)
    assert costs[600] == pytest.approx(0.11)
    assert 0.0 < costs[510] < 0.05 < costs[515] < 0.11  # σ(1/9) ≈ -0.27 of the full cost


def test_the_threshold_maximises_the_total_and_the_learning_period_counts_nothing() -> None:
    s = toy()
    scores = np.zeros(1000)
    scores[500] = 0.6
    scores[[700, 800, 900]] = 0.7  # three false positives above the true detection
    scores[10] = 1.0  # inside the learning period (150 points): free
    result = score_corpus({"toy": scores}, [s], STANDARD)
    assert result.threshold == 0.6  # 0.987 - 3 × 0.11 > 0 beats 0
    assert result.series["toy"].false_positives == 3
    assert result.series["toy"].detected == 1
    early = toy(((5, 20), (500, 509)))
    assert score_corpus({"toy": scores}, [early], STANDARD).series["toy"].windows == 1


def test_a_missed_window_costs_one_credit_per_profile() -> None:
    s = toy(((300, 309), (500, 509)))
    scores = np.zeros(1000)
    scores[500] = 1.0
    standard = score_corpus({"toy": scores}, [s], STANDARD)
    low_fn = score_corpus({"toy": scores}, [s], PROFILES["reward_low_FN_rate"])
    assert standard.raw == pytest.approx(START_CREDIT - 1.0)
    assert low_fn.raw == pytest.approx(START_CREDIT - 2.0)
    assert standard.score == pytest.approx(50.0, abs=1.0)


def test_windowed_gaussian_is_the_tail_of_a_trailing_window() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(3000)
    x[2000] = 8.0
    scores = windowed_gaussian(np.arange(3000.0), x)
    assert scores[0] == 0.0
    assert scores[1:].min() >= 0.5
    assert scores[2000] > 0.999999
    assert int(np.argmax(scores[100:])) + 100 == 2000
    assert scores[1500] == pytest.approx(
        1.0 - 0.5 * math.erfc(abs(x[1500] - x[:1500].mean()) / x[:1500].std() / math.sqrt(2.0))
    )


@pytest.mark.skipif(
    not (default_corpus() / "labels.json").exists(), reason="the anomaly-dev corpus is not here"
)
def test_must_show_the_detector_beats_the_windowed_gaussian_by_25_points() -> None:
    corpus = load_corpus(default_corpus())
    assert len(corpus) == 60
    ours, _, distinct = evaluate(DETECTORS["riskmon"], corpus)
    base, _, _ = evaluate(DETECTORS["windowed_gaussian"], corpus)
    assert ours["standard"].score >= base["standard"].score + 25.0
    for profile in PROFILES:
        assert ours[profile].score > base[profile].score
    assert distinct > 10_000
    detected_drop = [
        s.name
        for s in corpus
        if s.name.startswith("data-ingress-rate/")  # "prominent dips … service disruption"
        and ours["standard"].series[s.name].detected
    ]
    assert detected_drop
