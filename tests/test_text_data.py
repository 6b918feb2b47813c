"""A text dataset through the data stages (ingest, validate, split, featurize) and into a
model, and bad text input stopping the ingest stage before anything is written."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import yaml

from bakeoff.data.prepare import prepared_splits
from bakeoff.models.fitting import fit_model
from bakeoff.params import params_from_mapping
from bakeoff.paths import RAW_CARD, RAW_DATASET
from bakeoff.stages import ingest as ingest_stage
from conftest import PROJECT_ROOT, reviews

BASE = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())


def text_params(tmp_path, frame: pd.DataFrame):
    frame.to_csv(tmp_path / "reviews.csv", index=False)
    data = {"name": "reviews", "source": {"kind": "file", "path": "reviews.csv"}, "target": "label"}
    return params_from_mapping({**BASE, "data": data})


def test_a_text_table_flows_from_the_csv_into_a_model(tmp_path, caplog):
    frame, y = reviews(400, seed=2)
    frame["label"] = y
    # A review copied into several rows with different runtimes: rows differ, text does not.
    frame.loc[frame.index[:40], "review"] = "A wonderful, moving and funny film."
    frame.loc[frame.index[:40], "label"] = "fresh"
    with caplog.at_level(logging.WARNING, logger="bakeoff.data.prepare"):
        parts, card = prepared_splits(text_params(tmp_path, frame), tmp_path)
    assert card["features"] == {"review": "text", "runtime": "numeric", "genre": "categorical"}
    rules = {w["rule"] for w in card["validation"]["warnings"]}
    assert rules == {"empty_documents"}
    assert "[duplicate_documents] column 'review'" in caplog.text  # split: a leak, counted
    assert parts["train"]["review"].dtype == "str"
    config = {"_target_": "bakeoff.models.text.tfidf_logreg"}
    model, _ = fit_model(
        config,
        task=card["task"],
        train=parts["train"],
        val=parts["val"],
        target="label",
        column_kinds=card["features"],
    )
    test = parts["test"]
    assert model.text_columns == ["review"]
    assert (model.predict(test.drop(columns="label")) == test["label"]).mean() > 0.8


def test_non_utf8_text_stops_ingest_naming_the_line_and_writes_nothing(
    tmp_path, monkeypatch, caplog
):
    frame, y = reviews(50)
    frame["label"] = y
    params = text_params(tmp_path, frame)
    lines = (tmp_path / "reviews.csv").read_bytes().splitlines(keepends=True)
    line = next(i for i, text in enumerate(lines) if b"film" in text)
    lines[line] = lines[line].replace(b"film", b"fil\xe9", 1)
    (tmp_path / "reviews.csv").write_bytes(b"".join(lines))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    raw = {**BASE, "data": vars(params.data)}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        ingest_stage.main()
    assert exit_info.value.code == 1
    assert "[encoding] file " in caplog.text and "reviews.csv" in caplog.text
    assert f"not valid utf-8: line {line + 1} (" in caplog.text
    assert not RAW_DATASET.exists() and not RAW_CARD.exists()
