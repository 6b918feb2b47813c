import pandas as pd
import pytest

from bakeoff.params import SplitConfig
from bakeoff.split import split_frame


def test_shares_disjoint_and_stratified(mixed_frame):
    parts = split_frame(
        mixed_frame,
        target="target",
        task="classification",
        config=SplitConfig(test_size=0.2, val_size=0.2),
        seed=0,
    )
    sizes = {k: len(v) for k, v in parts.items()}
    assert sizes == {"train": 36, "val": 12, "test": 12}
    indexes = [set(v.index) for v in parts.values()]
    assert set.union(*indexes) == set(mixed_frame.index)
    assert sum(len(i) for i in indexes) == len(mixed_frame)
    overall = mixed_frame["target"].value_counts(normalize=True)["yes"]
    for part in parts.values():
        assert abs(part["target"].value_counts(normalize=True)["yes"] - overall) < 0.1


def test_same_seed_same_split(mixed_frame):
    config = SplitConfig()
    a = split_frame(mixed_frame, target="target", task="classification", config=config, seed=3)
    b = split_frame(mixed_frame, target="target", task="classification", config=config, seed=3)
    c = split_frame(mixed_frame, target="target", task="classification", config=config, seed=4)
    assert list(a["test"].index) == list(b["test"].index)
    assert list(a["test"].index) != list(c["test"].index)


def test_class_too_small_for_stratified_split_is_named():
    frame = pd.DataFrame({"x": range(30), "y": ["a"] * 28 + ["rare"] * 2})
    with pytest.raises(ValueError, match=r"'rare' \(2 rows\)"):
        split_frame(frame, target="y", task="classification", config=SplitConfig(), seed=0)


def test_regression_is_not_stratified(regression_frame):
    parts = split_frame(
        regression_frame, target="y", task="regression", config=SplitConfig(), seed=0
    )
    assert sum(len(p) for p in parts.values()) == len(regression_frame)


def test_shares_must_leave_training_rows(mixed_frame):
    with pytest.raises(ValueError, match="leave rows for training"):
        split_frame(
            mixed_frame,
            target="target",
            task="classification",
            config=SplitConfig(test_size=0.5, val_size=0.5),
            seed=0,
        )
