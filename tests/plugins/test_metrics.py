"""The offline evaluate metric modules against scikit-learn and scipy, and task_metrics per task."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats as scipy_stats
import sklearn.metrics as sklearn_metrics
from greenprune_builtins.metrics import METRIC_KEYS, load_metric, task_metric_modules, task_metrics

from greenprune.errors import UserError

SEEDS = (0, 1, 2, 3, 4)


def _labels(seed: int, n: int = 200, k: int = 2) -> tuple[list[int], list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, k, n).tolist(), rng.integers(0, k, n).tolist()


def _scores(seed: int, n: int = 300, ties: bool = False) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    refs = rng.uniform(0, 5, n)
    preds = refs + rng.normal(0, 1.5, n)
    if ties:  # STS-B gold scores repeat a lot (0.2 steps); ranks must average over ties
        refs, preds = np.round(refs * 5) / 5, np.round(preds)
    return preds.tolist(), refs.tolist()


# ---------------------------------------------------------------------------------------------
# The modules
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METRIC_KEYS))
def test_modules_are_evaluate_metrics_with_info(name: str) -> None:
    import evaluate

    metric = load_metric(name)
    assert isinstance(metric, evaluate.Metric)
    info = metric._info()
    assert info.description.strip() and info.citation.strip() and info.inputs_description.strip()
    assert set(info.features) == {"predictions", "references"}


def test_load_metric_is_cached_per_process() -> None:
    assert load_metric("accuracy") is load_metric("accuracy")


def test_unknown_metric_is_a_user_error_with_suggestion() -> None:
    with pytest.raises(UserError, match="accuracy"):
        load_metric("acuracy")


@pytest.mark.parametrize("seed", SEEDS)
def test_accuracy_matches_sklearn(seed: int) -> None:
    preds, refs = _labels(seed, k=3)
    got = load_metric("accuracy").compute(predictions=preds, references=refs)
    assert set(got) == {"accuracy"}
    assert got["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(refs, preds))


@pytest.mark.parametrize("seed", SEEDS)
def test_f1_matches_sklearn_binary(seed: int) -> None:
    preds, refs = _labels(seed)
    got = load_metric("f1").compute(predictions=preds, references=refs)
    assert set(got) == {"f1"}
    assert got["f1"] == pytest.approx(sklearn_metrics.f1_score(refs, preds, pos_label=1))


def test_f1_without_any_positive_is_zero_like_sklearn() -> None:
    preds, refs = [0, 0, 0], [0, 0, 0]
    got = load_metric("f1").compute(predictions=preds, references=refs)["f1"]
    assert got == sklearn_metrics.f1_score(refs, preds, zero_division=0) == 0.0


def test_f1_rejects_non_binary_labels() -> None:
    with pytest.raises(ValueError, match="labels 0 and 1"):
        load_metric("f1").compute(predictions=[0, 2], references=[0, 1])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 3])
def test_matthews_matches_sklearn(seed: int, k: int) -> None:
    preds, refs = _labels(seed, k=k)
    # Correlated predictions too, not only noise around zero.
    preds = [r if i % 3 else p for i, (p, r) in enumerate(zip(preds, refs, strict=True))]
    got = load_metric("matthews_correlation").compute(predictions=preds, references=refs)
    assert set(got) == {"matthews_correlation"}
    assert got["matthews_correlation"] == pytest.approx(sklearn_metrics.matthews_corrcoef(refs, preds))


@pytest.mark.parametrize(
    ("preds", "refs"),
    [
        ([1, 1, 1, 1], [0, 1, 0, 1]),  # all-same predictions: undefined, reported as 0
        ([0, 1, 0, 1], [1, 1, 1, 1]),  # all-same references
        ([1, 1, 1], [1, 1, 1]),  # one class everywhere
        ([0, 1, 1, 0], [0, 1, 1, 0]),  # perfect
        ([1, 0, 0, 1], [0, 1, 1, 0]),  # perfectly wrong
    ],
)
def test_matthews_edge_cases_match_sklearn(preds: list[int], refs: list[int]) -> None:
    got = load_metric("matthews_correlation").compute(predictions=preds, references=refs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sklearn_metrics.matthews_corrcoef(refs, preds)
    assert got["matthews_correlation"] == pytest.approx(expected)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ties", [False, True])
def test_pearson_matches_scipy(seed: int, ties: bool) -> None:
    preds, refs = _scores(seed, ties=ties)
    got = load_metric("pearsonr").compute(predictions=preds, references=refs)
    assert set(got) == {"pearson"}
    assert got["pearson"] == pytest.approx(scipy_stats.pearsonr(preds, refs)[0], abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ties", [False, True])
def test_spearman_matches_scipy(seed: int, ties: bool) -> None:
    preds, refs = _scores(seed, ties=ties)
    got = load_metric("spearmanr").compute(predictions=preds, references=refs)
    assert set(got) == {"spearman"}
    assert got["spearman"] == pytest.approx(scipy_stats.spearmanr(preds, refs)[0], abs=1e-12)


def test_correlations_of_a_constant_are_nan_like_scipy() -> None:
    preds, refs = [2.0, 2.0, 2.0], [1.0, 2.0, 3.0]
    assert math.isnan(load_metric("pearsonr").compute(predictions=preds, references=refs)["pearson"])
    assert math.isnan(load_metric("spearmanr").compute(predictions=preds, references=refs)["spearman"])


def test_correlations_keep_float64_precision() -> None:
    # float32 features would round these apart values together and lose the correlation.
    refs = [1e8 + i * 1e-3 for i in range(5)]
    got = load_metric("pearsonr").compute(predictions=refs, references=refs)
    assert got["pearson"] == pytest.approx(1.0)


def test_numpy_inputs_are_accepted() -> None:
    preds, refs = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])
    assert load_metric("accuracy").compute(predictions=preds, references=refs)["accuracy"] == 0.75


# ---------------------------------------------------------------------------------------------
# task_metrics
# ---------------------------------------------------------------------------------------------

EXPECTED_KEYS = {
    "cola": {"matthews_correlation"},
    "sst2": {"accuracy"},
    "mrpc": {"accuracy", "f1"},
    "stsb": {"pearson", "spearman"},
    "qqp": {"accuracy", "f1"},
    "mnli": {"accuracy"},
    "qnli": {"accuracy"},
    "rte": {"accuracy"},
    "wnli": {"accuracy"},
}


@pytest.mark.parametrize("task", sorted(EXPECTED_KEYS))
def test_task_metrics_per_task(task: str) -> None:
    if task == "stsb":
        preds, refs = _scores(7)
        expected = {"pearson": scipy_stats.pearsonr(preds, refs)[0],
                    "spearman": scipy_stats.spearmanr(preds, refs)[0]}
    else:
        preds, refs = _labels(7, k=3 if task == "mnli" else 2)
        reference_impls = {"accuracy": sklearn_metrics.accuracy_score, "f1": sklearn_metrics.f1_score,
                           "matthews_correlation": sklearn_metrics.matthews_corrcoef}
        expected = {key: reference_impls[key](refs, preds) for key in EXPECTED_KEYS[task]}
    got = task_metrics(task, preds, refs)
    assert set(got) == EXPECTED_KEYS[task]
    for key, value in got.items():
        assert isinstance(value, float)
        assert value == pytest.approx(expected[key], abs=1e-12)


def test_task_metric_modules_default_to_accuracy() -> None:
    assert task_metric_modules("demo") == ("accuracy",)
    assert task_metric_modules("stsb") == ("pearsonr", "spearmanr")


def test_task_metric_keys_match_the_glue_task_table() -> None:
    from greenprune_builtins.tasks.glue import TASKS

    for name, task in TASKS.items():
        assert set(task.metrics) == EXPECTED_KEYS[name]
        assert task.primary_metric in task.metrics
