import numpy as np
import pandas as pd
import pytest

from bakeoff.ingest import content_hash, describe, infer_task, read_source
from bakeoff.params import DataConfig


def test_infer_task():
    assert infer_task(pd.Series([0, 1, 1, 0])) == "classification"
    assert infer_task(pd.Series(["a", "b"])) == "classification"
    assert infer_task(pd.Series(np.linspace(0, 1, 50))) == "regression"
    assert infer_task(pd.Series(np.arange(100))) == "regression"  # too many integer levels


def test_content_hash_tracks_values_and_dtypes():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert content_hash(frame) == content_hash(frame.copy())
    changed = frame.copy()
    changed.loc[1, "a"] = 3
    assert content_hash(changed) != content_hash(frame)
    assert content_hash(frame.astype({"a": float})) != content_hash(frame)


def test_read_sklearn_renames_target():
    data = DataConfig(
        name="bc", source={"kind": "sklearn", "name": "breast_cancer"}, target="label"
    )
    frame = read_source(data)
    assert frame.shape == (569, 31)
    assert "label" in frame.columns and "target" not in frame.columns


def test_unknown_source_kind_and_dataset_are_named():
    with pytest.raises(ValueError, match="kind='ftp'"):
        read_source(DataConfig(name="x", source={"kind": "ftp"}, target="t"))
    with pytest.raises(ValueError, match="iris"):
        read_source(DataConfig(name="x", source={"kind": "sklearn", "name": "iris"}, target="t"))


def test_describe(mixed_frame):
    card = describe(mixed_frame, DataConfig(name="m", source={}, target="target"), "classification")
    assert card["rows"] == 60 and card["columns"] == 5
    assert card["features"] == {
        "x1": "numeric",
        "x2": "numeric",
        "colour": "categorical",
        "empty": "numeric",
    }
    assert sum(card["target_distribution"].values()) == 60
    assert card["missing_values"]["empty"] == 60
