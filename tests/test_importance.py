import numpy as np
import pandas as pd

from bakeoff.evaluation.importance import permutation_importance, rank_agreement
from bakeoff.evaluation.scoring import score
from bakeoff.models import build_model


def fitted_model():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "signal": rng.normal(size=300),
            "noise": rng.normal(size=300),
            "colour": rng.choice(["red", "blue"], 300),
        }
    )
    y = pd.Series(np.where(X.signal > 0, "yes", "no"))
    model = build_model(
        {"_target_": "bakeoff.models.classical.linear", "C": 10.0}, "classification"
    )
    return model.fit(X, y), X, y


def predict_frame(model):
    """Predictions as a saved model returns them: `prediction` and `proba_<class>` columns."""

    def predict(X: pd.DataFrame) -> pd.DataFrame:
        proba = model.predict_proba(X)
        frame = pd.DataFrame(proba, columns=[f"proba_{c}" for c in model.classes_], index=X.index)
        return frame.assign(prediction=model.classes_[proba.argmax(axis=1)])

    return predict


def test_the_column_the_target_follows_matters_and_the_others_do_not():
    model, X, y = fitted_model()
    seen = []

    def predict(frame):
        seen.append(frame.copy())
        return predict_frame(model)(frame)

    importance = permutation_importance(
        predict,
        lambda y_true, p: score("classification", y_true, p),
        X,
        y,
        metric="accuracy",
        repeats=3,
        seed=0,
    )
    assert importance["signal"]["mean"] > 0.3
    assert abs(importance["noise"]["mean"]) < 0.05 and abs(importance["colour"]["mean"]) < 0.05
    # The baseline, then one call with every column's three shuffles stacked (signal's
    # first): a predict call has a fixed cost, paid once rather than once per column.
    assert len(seen) == 1 + 1
    shuffled = seen[1]
    assert len(shuffled) == 3 * 3 * len(X)
    assert shuffled["colour"].dtype == X["colour"].dtype  # untouched columns keep their dtype
    assert (shuffled["noise"].to_numpy()[: len(X)] == X["noise"].to_numpy()).all()
    assert sorted(shuffled["signal"].to_numpy()[: len(X)]) == sorted(X["signal"])


def test_a_cell_budget_splits_the_calls_and_changes_no_number(monkeypatch):
    from bakeoff.evaluation import importance as module

    model, X, y = fitted_model()
    calls = []

    def predict(frame):
        calls.append(len(frame))
        return predict_frame(model)(frame)

    def run():
        return permutation_importance(
            predict,
            lambda y_true, p: score("classification", y_true, p, only=["log_loss"]),
            X,
            y,
            metric="log_loss",
            repeats=2,
            seed=3,
            baseline=0.1,
        )

    together = run()
    assert calls == [3 * 2 * len(X)]
    calls.clear()
    # Room for one column's shuffles per call (its rows times every column).
    monkeypatch.setattr(module, "MAX_CELLS_PER_CALL", 2 * len(X) * 3)
    assert run() == together
    assert calls == [2 * len(X)] * 3


def test_score_computes_only_the_metrics_asked_for():
    model, X, y = fitted_model()
    predictions = predict_frame(model)(X)
    every = score("classification", y, predictions)
    assert sorted(every) == ["accuracy", "balanced_accuracy", "f1", "log_loss", "roc_auc"]
    assert score("classification", y, predictions, only=["log_loss"]) == {
        "log_loss": every["log_loss"]
    }
    values = pd.DataFrame({"prediction": X["signal"] * 2})
    assert sorted(score("regression", X["signal"], values, only={"rmse", "r2"})) == ["r2", "rmse"]


def test_lower_is_better_metric_counts_a_worse_loss_as_importance():
    model, X, y = fitted_model()
    importance = permutation_importance(
        predict_frame(model),
        lambda y_true, p: score("classification", y_true, p),
        X,
        y,
        metric="log_loss",
        repeats=2,
        seed=0,
    )
    assert importance["signal"]["mean"] > 0.5


def test_rank_agreement_is_spearman_over_shared_columns_and_undefined_when_constant():
    a = {c: {"mean": v} for c, v in zip("abcd", [4, 3, 2, 1], strict=True)}
    b = {c: {"mean": v} for c, v in zip("abcd", [40, 30, 20, 10], strict=True)}
    assert rank_agreement(a, b)["spearman"] == 1.0
    reverse = {c: {"mean": -v["mean"]} for c, v in b.items()}
    assert rank_agreement(a, reverse)["spearman"] == -1.0
    flat = {c: {"mean": 0.0} for c in "abcd"}
    assert rank_agreement(a, flat)["spearman"] is None


def test_a_known_baseline_is_not_predicted_again_and_gives_the_same_importances():
    model, X, y = fitted_model()
    calls = []

    def predict(frame):
        calls.append(len(frame))
        return predict_frame(model)(frame)

    def scorer(y_true, p):
        return score("classification", y_true, p)

    kwargs = dict(metric="log_loss", repeats=2, seed=0)
    fresh = permutation_importance(predict, scorer, X, y, **kwargs)
    baseline = scorer(y, predict_frame(model)(X))["log_loss"]
    calls.clear()
    given = permutation_importance(predict, scorer, X, y, baseline=baseline, **kwargs)
    assert calls == [3 * 2 * len(X)]  # the columns' shuffles stacked, no baseline call
    assert given == fresh


def test_a_large_test_split_is_sampled_to_max_rows_with_the_samples_own_baseline():
    from bakeoff.evaluation.scoring import importance_on_test
    from bakeoff.params import compose_conf, params_from_mapping
    from conftest import PROJECT_ROOT

    model, X, y = fitted_model()
    X.index = y.index = [i // 2 for i in range(len(X))]  # an index need not be unique
    calls = []

    def predict(frame):
        calls.append(len(frame))
        return predict_frame(model)(frame)

    def importance(max_rows):
        overrides = [f"compare.importance.max_rows={max_rows}", "compare.importance.repeats=2"]
        params = params_from_mapping(compose_conf(PROJECT_ROOT / "conf", overrides))
        scores = score("classification", y, predict_frame(model)(X))
        calls.clear()
        return importance_on_test(predict, "classification", X, y, params, scores)

    whole = importance("null")
    assert (whole["rows"], whole["test_rows"]) == (300, 300)
    assert calls == [3 * 2 * 300]  # no baseline call: the test scores are the baseline
    sampled = importance(100)
    assert (sampled["rows"], sampled["test_rows"]) == (100, 300)
    assert calls == [100, 3 * 2 * 100]  # the sample's own baseline, then its shuffles
    assert importance(100)["columns"] == sampled["columns"]  # seeded: the same sample
    assert sampled["columns"] != whole["columns"]
    assert sampled["columns"]["signal"]["mean"] > 10 * abs(sampled["columns"]["noise"]["mean"])


def test_a_wide_input_gets_fewer_rows_so_the_predictions_stay_within_the_budget():
    from bakeoff.params import ImportanceConfig

    config = ImportanceConfig(repeats=5, max_rows=5000, max_predictions=500_000)
    assert config.rows_for(114, 30) == 114  # a small table: every row
    assert config.rows_for(20_000, 20) == 5000  # 20 x 5 x 5000 = 500,000
    assert config.rows_for(1016, 784) == 127  # 784 pixels: 784 x 5 x 127 <= 500,000
    assert config.rows_for(1016, 10**6) == 1  # never none
    assert ImportanceConfig(max_rows=None, max_predictions=None).rows_for(10**6, 10) == 10**6


def test_a_slow_model_gets_fewer_rows_so_its_importance_stays_within_max_seconds():
    from bakeoff.params import ImportanceConfig

    config = ImportanceConfig(repeats=2, max_predictions=500_000, max_seconds=120)
    assert config.rows_for(1016, 784) == 318  # fast: the predictions cap binds
    assert config.rows_for(1016, 784, seconds_per_row=1e-5) == 318
    # 0.76 ms a row: 120 s / (0.76 ms x 784 x 2) = 100 rows
    assert config.rows_for(1016, 784, seconds_per_row=0.76e-3) == 100
    assert config.rows_for(1016, 784, seconds_per_row=1.0) == 1  # never none
    unlimited = ImportanceConfig(max_rows=None, max_predictions=None, max_seconds=None)
    assert unlimited.rows_for(1016, 784, seconds_per_row=1.0) == 1016


def test_max_rows_below_one_is_refused_by_name():
    import pytest

    from bakeoff.params import ImportanceConfig

    with pytest.raises(ValueError, match=r"compare\.importance\.max_rows must be >= 1"):
        ImportanceConfig(max_rows=0)
    with pytest.raises(ValueError, match=r"compare\.importance\.max_predictions must be >= 1"):
        ImportanceConfig(max_predictions=0)
    with pytest.raises(ValueError, match=r"compare\.importance\.max_seconds must be > 0"):
        ImportanceConfig(max_seconds=0)


def test_importance_is_sized_by_the_models_own_prediction_time_and_skipped_below_the_floor():
    from bakeoff.evaluation.scoring import importance_on_test
    from bakeoff.params import compose_conf, params_from_mapping
    from conftest import PROJECT_ROOT

    model, X, y = fitted_model()  # 300 rows, 3 columns
    calls = []

    def predict(frame):
        calls.append(len(frame))
        return predict_frame(model)(frame)

    overrides = ["compare.importance.repeats=2", "compare.importance.max_seconds=6"]
    params = params_from_mapping(compose_conf(PROJECT_ROOT / "conf", overrides))
    scores = score("classification", y, predict_frame(model)(X))

    def importance(predict_seconds):
        calls.clear()
        given = {**scores, "predict_seconds": predict_seconds}
        return importance_on_test(predict, "classification", X, y, params, given)

    assert importance(0.3)["rows"] == 300  # 1 ms a row: 3 x 2 x 300 rows in 1.8 s
    # 30 ms a row: 6 s buys 6 / (0.03 x 3 x 2) = 33 rows of work, under the floor of 50
    slow = importance(9.0)
    assert calls == [] and slow["columns"] == {} and slow["rows"] == 0
    assert slow["skipped"].startswith("not computed: at 30 ms per row predicted")
    assert "max_seconds=6" in slow["skipped"] and "leave 33 rows" in slow["skipped"]
    middle = importance(3.0)  # 10 ms a row: 100 rows, sampled with their own baseline
    assert (middle["rows"], middle["test_rows"]) == (100, 300)
    assert calls == [100, 3 * 2 * 100]
