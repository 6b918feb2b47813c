"""Ingest: task and column-type inference, type overrides, the raw data card."""

import numpy as np
import pandas as pd
import pytest

from bakeoff.data.ingestion import (
    apply_column_types,
    content_hash,
    infer_column_kind,
    infer_task,
    ingest,
)
from bakeoff.params import DataConfig


def test_infer_task():
    assert infer_task(pd.Series([0, 1, 1, 0])) == "classification"
    assert infer_task(pd.Series(["a", "b"])) == "classification"
    assert infer_task(pd.Series(np.linspace(0, 1, 50))) == "regression"
    assert infer_task(pd.Series(np.arange(100))) == "regression"  # too many integer levels


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([1.5, 2.0, None], "numeric"),
        (["1", "2.5", None], "numeric"),  # numbers read as text
        ([True, False, True], "boolean"),
        (["TRUE", "false", None], "boolean"),
        (["2024-01-05", "2024-02-29 13:45", None], "datetime"),
        (["05/01/2024", "29/02/2024", "01/03/2024"], "datetime"),
        (["red", "green", None], "categorical"),
        (["a1", "b2", "c3"], "categorical"),
        (
            [
                "the room was clean and quiet",
                "staff were friendly but slow at check-in",
                "would not stay here again, noisy street",
            ],
            "text",
        ),
        ([None, None, None], "numeric"),
    ],
)
def test_infer_column_kind(values, kind):
    assert infer_column_kind(pd.Series(values)) == kind


def test_apply_column_types_converts_and_names_bad_values():
    frame = pd.DataFrame(
        {
            "zip": [94110.0, 10001.0, np.nan],  # numeric codes meant as categories
            "when": ["2024-01-01", "not a date", None],
            "flag": ["true", "False", None],
            "n": ["1", "x", "3"],
        }
    )
    types = {"zip": "categorical", "when": "datetime", "flag": "boolean", "n": "numeric"}
    out, problems = apply_column_types(frame, types, file="f.csv")
    assert out["zip"].tolist()[:2] == ["94110", "10001"] and pd.isna(out["zip"].iloc[2])
    assert pd.api.types.is_datetime64_any_dtype(out["when"])
    assert out["flag"].tolist()[:2] == [1.0, 0.0]
    assert {(p.rule, p.column) for p in problems} == {
        ("not_datetime", "when"),
        ("not_numeric", "n"),
    }
    bad = next(p for p in problems if p.column == "n")
    assert bad.file == "f.csv" and bad.examples == [{"row": 1, "value": "x"}]
    assert frame["n"].tolist() == ["1", "x", "3"]  # the input is left untouched


def test_ingest_keeps_float32_numbers_and_refuses_to_scale_a_category():
    frame = pd.DataFrame(
        {"p": np.array([0.5, 1.0, 0.0], dtype=np.float32), "c": ["a", "b", "a"], "y": [0, 1, 0]}
    )
    data = DataConfig(name="t", source={"kind": "file", "path": "t.csv"}, target="y")
    out, _, problems = ingest(frame, data)
    assert problems == [] and out["p"].dtype == np.float32  # pixels stay float32
    scaled = DataConfig(**{**vars(data), "scale": {"c": 2.0}})
    (problem,) = ingest(frame, scaled)[2]
    assert (problem.rule, problem.column, problem.file) == ("not_numeric_scale", "c", "t.csv")


def test_content_hash_tracks_values_and_dtypes():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert content_hash(frame) == content_hash(frame.copy())
    changed = frame.copy()
    changed.loc[1, "a"] = 3
    assert content_hash(changed) != content_hash(frame)
    assert content_hash(frame.astype({"a": float})) != content_hash(frame)


def test_ingest_scales_drops_types_and_describes(mixed_frame):
    # price as text, as a CSV read can leave numbers: typed first, then scaled.
    frame = mixed_frame.assign(row_id=range(60), price=(np.arange(60) * 1000).astype(str))
    data = DataConfig(
        name="m",
        source={"kind": "file", "path": "m.csv"},
        target="target",
        drop_columns=["row_id", "not_there"],
        column_types={"x2": "categorical"},
        scale={"price": 0.001},
    )
    out, card, problems = ingest(frame, data)
    assert problems == []
    assert "row_id" not in out.columns
    assert out["price"].iloc[5] == pytest.approx(5.0)
    assert card["features"] == {
        "x1": "numeric",
        "x2": "categorical",
        "colour": "categorical",
        "empty": "numeric",
        "price": "numeric",
    }
    assert card["task"] == "classification"  # inferred
    assert card["rows"] == 60
    assert card["target_distribution"] == frame["target"].value_counts().sort_index().to_dict()
    assert card["missing_values"]["empty"] == 60
    assert "row_id" in card["source_columns"]  # validate reports `not_there` against these


def test_ingest_without_the_target_leaves_it_to_validate(mixed_frame):
    data = DataConfig(name="m", source={"kind": "file"}, target="label")
    _, card, problems = ingest(mixed_frame, data)
    assert problems == [] and card["task"] is None and "target_distribution" not in card
