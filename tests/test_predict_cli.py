"""Batch prediction's output (issue 17): it never replaces its own input, replaces another
file only when told to, and says which input columns it leaves out."""

from __future__ import annotations

import logging

import mlflow
import pandas as pd
import pytest

from bakeoff.cli import predict
from bakeoff.models import classical
from bakeoff.tracking.serving import ServedModel, save_served_model


@pytest.fixture
def model_folder(mixed_frame, tmp_path):
    X, y = mixed_frame.drop(columns=["target", "empty"]), mixed_frame["target"]
    served = ServedModel(
        model=classical.linear("classification").fit(X, y), steps=[], target="target"
    )
    save_served_model(served, tmp_path / "model", X.head(5), tmp_path)
    return tmp_path / "model"


@pytest.fixture
def rows(mixed_frame, tmp_path):
    path = tmp_path / "rows.csv"
    mixed_frame.drop(columns=["target", "empty"]).head(10).to_csv(path, index=False)
    return path


def predict_cli(model, rows, output, *extra):
    uri = f"sqlite:///{model.parent / 'mlflow.db'}"
    args = ["--model", str(model), "--input", str(rows), "--output", str(output)]
    predict.main([*args, "--name", "m", "--tracking-uri", uri, *extra])


@pytest.mark.parametrize("how", ["same path", "symlink"])
def test_the_input_file_is_never_the_output(model_folder, rows, tmp_path, caplog, how):
    before = rows.read_bytes()
    output = rows
    if how == "symlink":
        output = tmp_path / "link.csv"
        output.symlink_to(rows)
    extra = ["--overwrite"] if how == "symlink" else []  # not even with --overwrite
    with pytest.raises(SystemExit) as exited, caplog.at_level(logging.ERROR):
        predict_cli(model_folder, rows, output, *extra)
    assert exited.value.code == 1
    assert rows.read_bytes() == before
    assert "[output_is_input]" in caplog.text and "is the input file itself" in caplog.text


def test_an_existing_output_is_replaced_only_with_overwrite(model_folder, rows, tmp_path, caplog):
    output = tmp_path / "predictions.csv"
    output.write_text("precious\n")
    with pytest.raises(SystemExit), caplog.at_level(logging.ERROR):
        predict_cli(model_folder, rows, output)
    assert output.read_text() == "precious\n"
    assert "[output_exists]" in caplog.text and "--overwrite" in caplog.text
    predict_cli(model_folder, rows, output, "--overwrite")
    assert len(pd.read_csv(output)) == 10


def test_input_columns_the_model_does_not_read_are_named_once(model_folder, rows, tmp_path, caplog):
    extra = pd.read_csv(rows).assign(note="hello", batch=7)
    extra.to_csv(rows, index=False)
    output = tmp_path / "predictions.csv"
    with caplog.at_level(logging.WARNING):
        predict_cli(model_folder, rows, output, "--keep", "batch")
    lines = [r.getMessage() for r in caplog.records if "[unused_columns]" in r.getMessage()]
    assert len(lines) == 1 and "['note']" in lines[0] and "rows.csv" in lines[0]
    assert list(pd.read_csv(output).columns)[:2] == ["batch", "prediction"]


def test_only_the_reported_unseen_category_warning_is_silenced(model_folder, rows):
    frame = pd.read_csv(rows)
    frame.loc[0, "colour"] = "ultraviolet"  # reported by check_rows, not warned again
    frame.loc[1, "x1"] = 1e308  # overflows in the model: the user must hear of it
    model = mlflow.pyfunc.load_model(str(model_folder))
    with pytest.warns(RuntimeWarning, match="overflow") as warned:
        predictions, problems = predict.predict_rows(model, frame, "rows.csv")
    assert len(predictions) == 10
    assert any(p.rule == "unseen_category" for p in problems)
    assert not [w for w in warned if "never seen in training" in str(w.message)]
