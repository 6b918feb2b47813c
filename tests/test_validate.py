"""Validation: every bad input from a tiny CSV fixture, its rule named, all problems at once."""

import dataclasses
import json
import os

import numpy as np
import pandas as pd
import pytest
import yaml

from bakeoff.data.ingestion import content_hash, ingest
from bakeoff.data.sources import read_source
from bakeoff.params import SplitConfig, params_from_mapping
from bakeoff.paths import DATA_CARD, DATASET, RAW_CARD, RAW_DATASET, VALIDATION_REPORT
from bakeoff.problems import errors, warnings
from bakeoff.stages import validate as validate_stage
from conftest import PROJECT_ROOT

BASE = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())


def make_params(tmp_path, csv: str, **data):
    (tmp_path / "t.csv").write_text(csv, encoding="utf-8")
    raw = {**BASE, "data": {"name": "t", "source": {"kind": "file", "path": "t.csv"}, **data}}
    raw.setdefault("validate", {})
    return params_from_mapping(raw)


def check(tmp_path, csv: str, **data):
    """Read, ingest and validate a CSV; returns (frame, card, problems)."""
    params = make_params(tmp_path, csv, **data)
    frame, card, problems = ingest(read_source(params.data, tmp_path), params.data)
    assert problems == []
    return validate_stage.validate(frame, card, params)


def rules(problems, severity="error"):
    chosen = errors(problems) if severity == "error" else warnings(problems)
    return {(p.rule, p.column) for p in chosen}


def table(n=40, seed=0, **extra):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n).round(3),
            "b": rng.choice(["x", "y", "z"], size=n),
            "label": np.tile(["yes", "no"], n // 2),
        }
    )
    for name, values in extra.items():
        frame[name] = values
    return frame.to_csv(index=False)


def test_clean_table_passes_without_problems(tmp_path):
    frame, card, problems = check(tmp_path, table(), target="label")
    assert problems == []
    assert card["validation"]["status"] == "passed" and len(frame) == 40


def test_target_missing_suggests_close_names(tmp_path):
    _, _, problems = check(tmp_path, table(), target="Labels")
    (problem,) = errors(problems)
    assert problem.rule == "target_missing" and "'label'" in problem.message
    assert problem.file == "t.csv"


def test_configured_columns_that_do_not_exist(tmp_path):
    _, _, problems = check(
        tmp_path,
        table(),
        target="label",
        drop_columns=["id"],
        column_types={"bb": "categorical"},
        scale={"a": 2.0},
    )
    assert rules(problems) == {
        ("configured_column_missing", "id"),
        ("configured_column_missing", "bb"),
    }
    assert "did you mean ['b']" in next(p.message for p in problems if p.column == "bb")


def test_single_class_target(tmp_path):
    csv = table().replace(",no\n", ",yes\n")
    _, _, problems = check(tmp_path, csv, target="label")
    assert ("single_class", "label") in rules(problems)


@pytest.mark.parametrize("method", ["random", "hash"])
def test_class_too_small_for_a_stratified_split(tmp_path, method):
    labels = ["yes", "no"] * 19 + ["maybe", "maybe"]
    params = make_params(tmp_path, table(label=labels), target="label")
    params = dataclasses.replace(params, split=SplitConfig(method=method))
    frame, card, _ = ingest(read_source(params.data, tmp_path), params.data)
    _, _, problems = validate_stage.validate(frame, card, params)
    if method == "hash":  # not stratified: split warns if a part lacks the class
        assert errors(problems) == []
        return
    (problem,) = errors(problems)
    assert problem.rule == "class_too_small" and "'maybe'" in problem.message


def test_non_numeric_regression_target(tmp_path):
    _, _, problems = check(tmp_path, table(), target="label", task="regression")
    assert ("target_not_numeric", "label") in rules(problems)


def test_infinite_values_are_named_with_rows(tmp_path):
    a = [0.5] * 40
    a[7] = np.inf
    _, _, problems = check(tmp_path, table(a=a), target="label")
    (problem,) = errors(problems)
    assert (problem.rule, problem.column) == ("infinite_values", "a")
    assert problem.examples[0]["row"] == 7


def test_values_beyond_float32_are_named_with_rows(tmp_path):
    # Finite, but infinite to the models (and to the leak check's trees, which crashed).
    a = list(np.linspace(-1, 1, 40) * 1e200)
    a[3] = 0.5
    _, _, problems = check(tmp_path, table(a=a), target="label")
    (problem,) = errors(problems)
    assert (problem.rule, problem.column) == ("values_too_large", "a")
    assert "39 value(s)" in problem.message and "data.scale" in problem.message
    assert [e["row"] for e in problem.examples[:2]] == [0, 1]


def test_free_text_passes_as_text(tmp_path):
    notes = [f"customer {i} wrote a long and unique comment number {i}" for i in range(40)]
    frame, card, problems = check(tmp_path, table(notes=notes), target="label")
    assert problems == []
    assert card["features"]["notes"] == "text"
    assert frame["notes"].iloc[3] == notes[3]


def test_empty_documents_are_counted(tmp_path):
    notes = [f"customer {i} wrote a long and unique comment number {i}" for i in range(40)]
    notes[2], notes[9] = "   ", ""
    _, card, problems = check(tmp_path, table(notes=notes), target="label")
    (problem,) = warnings(problems)
    assert (problem.rule, problem.column, problem.action) == ("empty_documents", "notes", "counted")
    # pandas reads an empty CSV field as missing: only the white-space one is present
    assert problem.message.startswith("1 document(s) are empty or white space only")
    assert problem.examples == [2]
    assert card["validation"]["warnings"][0]["rule"] == "empty_documents"


def test_long_documents_are_truncated_with_a_count(tmp_path):
    notes = [f"customer {i} wrote a long and unique comment number {i}" for i in range(40)]
    notes[5] = "word " * 30
    params = make_params(tmp_path, table(notes=notes), target="label")
    params = dataclasses.replace(
        params, validate=dataclasses.replace(params.validate, max_text_chars=60)
    )
    frame, card, _ = ingest(read_source(params.data, tmp_path), params.data)
    frame, _, problems = validate_stage.validate(frame, card, params)
    (problem,) = warnings(problems)
    assert (problem.rule, problem.column, problem.action) == (
        "long_documents",
        "notes",
        "truncated",
    )
    assert "max_text_chars=60" in problem.message and problem.examples == [{"row": 5, "chars": 149}]
    assert len(frame.loc[5, "notes"]) == 60
    assert frame["notes"].str.len().max() == 60


def test_all_nan_and_constant_columns_are_dropped_with_a_warning(tmp_path):
    csv = table(empty=[None] * 40, same=["k"] * 40)
    frame, card, problems = check(tmp_path, csv, target="label")
    assert rules(problems, "warning") == {("all_nan_column", "empty"), ("constant_column", "same")}
    assert "empty" not in frame and "same" not in frame
    assert card["validation"]["dropped_columns"] == ["empty", "same"]
    assert set(card["features"]) == {"a", "b"}


@pytest.mark.parametrize("drop", [False, True])
def test_duplicate_rows_are_counted_and_dropped_when_configured(tmp_path, drop):
    frame = pd.read_csv(pd.io.common.StringIO(table()))
    csv = pd.concat([frame, frame.head(3)]).to_csv(index=False)
    params = make_params(tmp_path, csv, target="label")
    params = params_from_mapping(
        {**BASE, "data": vars(params.data), "validate": {"drop_duplicates": drop}}
    )
    raw, raw_card, _ = ingest(read_source(params.data, tmp_path), params.data)
    out, card, problems = validate_stage.validate(raw, raw_card, params)
    (problem,) = warnings(problems)
    assert problem.rule == "duplicate_rows" and problem.message.startswith("3 row(s)")
    assert len(out) == (40 if drop else 43)
    # The card describes the validated table, which is what the runs' data hash names.
    assert card["rows"] == len(out)
    assert card["content_hash"] == content_hash(out)
    assert (card["content_hash"] == raw_card["content_hash"]) is not drop
    assert sum(card["target_distribution"].values()) == len(out)


def test_float32_numbers_pass_and_their_infinities_are_named(tmp_path):
    """Image pixels arrive as float32: neither widened nor mistaken for a bad target."""
    params = make_params(tmp_path, table(), target="label")
    frame = pd.read_csv(tmp_path / "t.csv").assign(p=np.linspace(0, 1, 40, dtype=np.float32))
    raw, card, _ = ingest(frame, params.data)
    out, _, problems = validate_stage.validate(raw, card, params)
    assert problems == [] and out["p"].dtype == np.float32
    raw.loc[3, "p"] = np.inf
    _, _, problems = validate_stage.validate(raw, card, params)
    (problem,) = errors(problems)
    assert (problem.rule, problem.column, problem.examples[0]["row"]) == ("infinite_values", "p", 3)


def test_leaky_column_is_named_loudly(tmp_path):
    labels = np.tile(["yes", "no"], 100)
    leak = np.where(labels == "yes", 1.0, 0.0) + np.random.default_rng(0).normal(0, 0.01, 200)
    _, _, problems = check(tmp_path, table(n=200, label=labels, leak=leak), target="label")
    assert rules(problems, "warning") == {("possible_leakage", "leak")}
    assert "LEAK SUSPECT" in warnings(problems)[0].message


def test_heavy_imbalance_is_flagged(tmp_path):
    labels = ["no"] * 95 + ["yes"] * 5
    _, _, problems = check(tmp_path, table(n=100, label=labels), target="label")
    (problem,) = warnings(problems)
    assert problem.rule == "class_imbalance" and "balanced accuracy" in problem.message


def test_stage_fails_with_a_report_and_writes_nothing_downstream(tmp_path, monkeypatch, caplog):
    """The stage itself: exit 1, every problem in reports/validation.json, no dataset."""
    a = [0.5] * 40
    a[2] = np.inf
    params = make_params(tmp_path, table(a=a), target="lable")
    frame, card, _ = ingest(read_source(params.data, tmp_path), params.data)
    monkeypatch.chdir(tmp_path)
    raw = {**BASE, "data": vars(params.data)}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    os.makedirs(RAW_DATASET.parent)
    frame.to_parquet(RAW_DATASET)
    RAW_CARD.write_text(json.dumps(card))
    with pytest.raises(SystemExit) as exit_info:
        validate_stage.main()
    assert exit_info.value.code == 1
    report = json.loads(VALIDATION_REPORT.read_text())
    assert report["status"] == "failed" and report["errors"] == 2
    assert {p["rule"] for p in report["problems"]} == {"target_missing", "infinite_values"}
    assert not DATASET.exists() and not DATA_CARD.exists()
    assert "target_missing" in caplog.text and "did you mean 'label'" in caplog.text


def test_image_pixels_are_never_dropped(tmp_path):
    """A blank border pixel is constant, yet the CNN needs every position."""
    params = make_params(tmp_path, table(pixel_0=[0.0] * 40), target="label")
    frame, card, _ = ingest(read_source(params.data, tmp_path), params.data)
    card["image"] = {"shape": [1, 1, 1]}
    out, card, problems = validate_stage.validate(frame, card, params)
    assert "pixel_0" in out and "pixel_0" in card["features"] and problems == []


def test_row_key_must_exist_and_the_card_keeps_ingests_batches(tmp_path):
    _, _, problems = check(tmp_path, table(), target="label", key=["order_id"])
    assert ("configured_column_missing", "order_id") in rules(problems)
    _, card, problems = check(tmp_path, table(), target="label", key=["a"])
    assert errors(problems) == []
    assert card["batches"] == [{"file": "t.csv", "rows": 40}]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_single_column_scores_are_those_of_cross_val_score(task):
    from sklearn.model_selection import cross_val_score
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    from bakeoff.data.validation import single_column_scores

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=90), "b": rng.choice(["x", "y", "z"], size=90)})
    y = pd.Series(rng.choice(["p", "q"], size=90) if task == "classification" else X.a * 2)
    tree = (DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor)(
        min_samples_leaf=5, random_state=3
    )
    x = X.a.to_numpy().reshape(-1, 1)
    expected = float(np.mean(cross_val_score(tree, x, y, cv=3)))
    assert single_column_scores(X, y, task, seed=3)["a"] == pytest.approx(expected, abs=1e-12)
