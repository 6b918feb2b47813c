import warnings

import numpy as np
import pytest

from bakeoff.evaluation.metrics import classification_metrics, latency_summary, regression_metrics
from conftest import run_python


def test_binary_classification_metrics():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    scores = classification_metrics(y, proba, np.array([0, 1]))
    assert scores["accuracy"] == pytest.approx(0.75)
    assert scores["balanced_accuracy"] == pytest.approx(0.75)
    assert scores["f1"] == pytest.approx(0.8)
    assert scores["roc_auc"] == pytest.approx(1.0)
    assert scores["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.7])))


def test_labels_compare_as_strings():
    proba = np.array([[0.2, 0.8], [0.7, 0.3]])
    assert classification_metrics(np.array([1, 0]), proba, np.array(["0", "1"]))["accuracy"] == 1.0


def test_multiclass_metrics():
    y = np.array(["a", "b", "c", "c"])
    proba = np.eye(3)[[0, 1, 2, 0]] * 0.9 + 0.1 / 3
    scores = classification_metrics(y, proba, np.array(["a", "b", "c"]))
    assert scores["accuracy"] == pytest.approx(0.75)
    # One-vs-rest AUCs by hand (ties count half): a 2.5/3, b 3/3, c 3/4; their mean.
    assert scores["roc_auc"] == pytest.approx((2.5 / 3 + 1 + 0.75) / 3)


def test_classes_whose_names_sort_differently_keep_their_columns():
    # Integer classes 1..12 in the model's (numeric) order: as strings, "10" sorts before "2".
    classes = np.arange(1, 13)
    y = np.random.default_rng(0).choice(classes, size=240)
    proba = np.full((240, 12), 0.01)
    proba[np.arange(240), y - 1] = 0.89  # the true class's column, in the model's order
    proba[:12] = np.roll(proba[:12], 1, axis=1)  # twelve rows' guesses wrong
    scores = classification_metrics(y, proba, classes)
    assert scores["accuracy"] == pytest.approx(228 / 240)
    assert scores["log_loss"] == pytest.approx(-(228 * np.log(0.89) + 12 * np.log(0.01)) / 240)
    assert scores["roc_auc"] > 0.9
    # Binary: the positive class is the model's second, also when its name sorts first.
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    binary = classification_metrics(np.array([2, 10, 10, 2]), proba, np.array([2, 10]))
    assert binary["roc_auc"] == pytest.approx(1.0) and binary["f1"] == pytest.approx(1.0)
    assert binary["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.7, 0.6])))


def test_macro_f1_leaves_out_a_class_neither_scored_nor_predicted():
    y = np.array(["a", "b", "a", "b"])
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "ill-defined F-score" for class c
        scores = classification_metrics(y, proba, np.array(["a", "b", "c"]))
    assert scores["f1"] == pytest.approx(1.0)  # a and b perfect; c has no rows to score


def test_regression_metrics():
    scores = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert scores["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert scores["mae"] == pytest.approx(2 / 3)
    assert scores["r2"] == pytest.approx(1 - 4 / 2)


def test_latency_summary_in_ms():
    summary = latency_summary([0.010] * 19 + [0.100])
    assert summary["latency_p50_ms"] == pytest.approx(10.0)
    assert summary["latency_p95_ms"] > 10.0


def test_peak_memory_sees_an_allocation_that_is_freed_before_the_end():
    """In a process of its own: in the test run's, memory that earlier tests freed but the
    allocator kept can take the 80 MB without the resident size growing at all."""
    code = (
        "import time\n"
        "import numpy as np\n"
        "from bakeoff.evaluation.cost import peak_memory\n"
        "with peak_memory() as used:\n"
        "    block = np.ones(80 * 2**20 // 8)  # 80 MB, touched\n"
        # A fit holds its memory for a while; the sampler runs every 10 ms. A whole second:
        # on two loaded cores the sampler thread once got no turn within 0.1 s.
        "    time.sleep(1.0)\n"
        "    del block\n"
        "with peak_memory() as idle:\n"
        "    pass\n"
        "print(used['peak_memory_mb'], idle['peak_memory_mb'])\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    used, idle = map(float, result.stdout.split())
    assert used > 60
    assert idle < 20
