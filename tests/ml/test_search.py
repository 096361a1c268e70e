"""ml.search: start points and defaults always run, random points stay in their ranges, and
the search stops at its budget, its trial cap or when it stops finding better points."""

import numpy as np
import pytest

from ml.search import Choice, IntRange, LogUniform, random_search, sample_params

SPACE = {"x": LogUniform(0.1, 10.0), "n": IntRange(1, 5), "kind": Choice(("a", "b"))}


def peak(family, params):
    """Best at x = 2, n = 3, kind b; a family "broken" always fails."""
    if family == "broken":
        raise ValueError("cannot fit")
    if not params:
        return 0.0
    return -abs(np.log(params["x"] / 2)) - abs(params["n"] - 3) + (params["kind"] == "b")


def test_points_are_drawn_inside_their_ranges():
    rng = np.random.default_rng(0)
    for _ in range(200):
        params = sample_params(SPACE, rng)
        assert 0.1 <= params["x"] <= 10.0
        assert params["n"] in range(1, 6)
        assert params["kind"] in ("a", "b")


def test_start_then_defaults_then_random_and_the_best_wins():
    start = [("f", {"x": 2.0, "n": 3, "kind": "a"})]
    result = random_search(
        {"f": SPACE, "g": {}}, peak, metric="m", budget_seconds=60, start=start, max_trials=30
    )
    origins = [t.origin for t in result.trials]
    assert origins[:3] == ["start", "default", "default"]
    assert set(origins[3:]) == {"random"}
    assert [t.family for t in result.trials if t.origin == "random"] == ["f"] * (len(origins) - 3)
    assert result.best.metric == max(t.metric for t in result.trials)
    assert result.best.metric >= peak(*start[0])  # never worse than where it started
    record = result.to_dict()
    assert record["best"]["params"] == result.best.params
    assert len(record["trials"]) == len(result.trials) <= 30


def test_a_failing_family_is_recorded_and_never_wins():
    result = random_search({"broken": SPACE, "f": SPACE}, peak, metric="m", budget_seconds=5)
    failed = [t for t in result.trials if t.family == "broken"]
    assert failed and all(t.metric is None and "cannot fit" in t.error for t in failed)
    assert result.best.family == "f"


def test_a_zero_budget_still_tries_starts_and_defaults():
    result = random_search({"f": SPACE, "g": SPACE}, peak, metric="m", budget_seconds=0)
    assert [t.origin for t in result.trials] == ["default", "default"]


def test_patience_stops_a_search_that_finds_nothing_better():
    flat = random_search({"f": SPACE}, lambda f, p: 1.0, metric="m", budget_seconds=60, patience=5)
    assert len(flat.trials) == 1 + 5  # defaults win the tie; five random points bring no gain


def test_the_same_point_is_not_fitted_twice():
    tiny = {"kind": Choice(("a", "b"))}
    result = random_search({"f": tiny}, lambda f, p: 0.5, metric="m", budget_seconds=60)
    assert len(result.trials) == 3  # defaults, then a and b; nothing else to draw


def test_no_family_is_refused():
    with pytest.raises(ValueError, match="at least one family"):
        random_search({}, peak, metric="m", budget_seconds=1)


def test_random_points_go_to_the_better_half_of_the_families():
    def by_family(family, params):
        return {"good": 1.0, "fair": 0.5, "poor": 0.1, "bad": 0.0}[family] + 0.01 * params.get(
            "n", 0
        )

    spaces = {name: {"n": IntRange(1, 1000)} for name in ("good", "fair", "poor", "bad")}
    result = random_search(spaces, by_family, metric="m", budget_seconds=60, max_trials=24)
    drawn = {t.family for t in result.trials if t.origin == "random"}
    assert drawn == {"good", "fair"}
    assert result.best.family == "good"
