import numpy as np
import pandas as pd
import pytest

from bakeoff.data.rows import row_keys
from bakeoff.data.splitting import (
    classes_missing_from_train,
    duplicate_documents,
    missing_classes,
    split_frame,
)
from bakeoff.params import SplitConfig
from bakeoff.problems import CardError, DataError


def test_shares_disjoint_and_stratified(mixed_frame):
    parts = split_frame(
        mixed_frame,
        target="target",
        task="classification",
        config=SplitConfig(test_size=0.2, val_size=0.2, method="random"),
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
    config = SplitConfig(method="random")
    a = split_frame(mixed_frame, target="target", task="classification", config=config, seed=3)
    b = split_frame(mixed_frame, target="target", task="classification", config=config, seed=3)
    c = split_frame(mixed_frame, target="target", task="classification", config=config, seed=4)
    assert list(a["test"].index) == list(b["test"].index)
    assert list(a["test"].index) != list(c["test"].index)


def test_class_too_small_for_stratified_split_is_named():
    frame = pd.DataFrame({"x": range(30), "y": ["a"] * 28 + ["rare"] * 2})
    with pytest.raises(DataError, match=r"\[class_too_small\] column 'y': .*'rare' \(2 rows\)"):
        split_frame(
            frame, target="y", task="classification", config=SplitConfig(method="random"), seed=0
        )


def test_random_split_of_a_regression_target_is_not_stratified(regression_frame):
    # Stratifying a continuous target would fail (every value its own class of one).
    parts = split_frame(
        regression_frame,
        target="y",
        task="regression",
        config=SplitConfig(method="random"),
        seed=0,
    )
    n = len(regression_frame)
    assert [len(parts[s]) for s in ("test", "val")] == [round(0.2 * n), round(0.2 * n)]
    assert regression_frame["y"].nunique() == n  # so the check above means something


def test_shares_must_leave_training_rows(mixed_frame):
    with pytest.raises(ValueError, match="leave rows for training"):
        split_frame(
            mixed_frame,
            target="target",
            task="classification",
            config=SplitConfig(test_size=0.5, val_size=0.5),
            seed=0,
        )


def _hash_parts(frame, seed=0, key=None):
    return split_frame(
        frame, target="y", task="regression", config=SplitConfig(), seed=seed, key=key
    )


def test_hash_split_keeps_every_rows_part_when_rows_are_added():
    rng = np.random.default_rng(0)
    first = pd.DataFrame(
        {"id": range(2000), "x": rng.normal(size=2000), "y": rng.normal(size=2000)}
    )
    more = pd.DataFrame({"id": range(2000, 3000), "x": rng.normal(size=1000), "y": 0.0})
    before = _hash_parts(first, key=["id"])
    after = _hash_parts(pd.concat([more, first], ignore_index=True), key=["id"])  # re-ordered
    for name in ("train", "val", "test"):
        assert set(before[name]["id"]) <= set(after[name]["id"])
    shares = {k: len(v) / 3000 for k, v in after.items()}
    assert shares["test"] == pytest.approx(0.2, abs=0.03)
    assert shares["val"] == pytest.approx(0.2, abs=0.03)
    # Another seed draws other parts.
    assert set(_hash_parts(first, seed=1, key=["id"])["test"]["id"]) != set(before["test"]["id"])


def test_hash_split_keys_ignore_dtype_widening_and_column_order():
    ints = pd.DataFrame({"a": [1, 2, 3, 4], "b": ["x", "y", "z", "w"]})
    floats = pd.DataFrame({"b": ["x", "y", "z", "w"], "a": [1.0, 2.0, 3.0, 4.0]})
    assert list(row_keys(ints)) == list(row_keys(floats))
    assert len(set(row_keys(ints))) == 4
    assert list(row_keys(ints, seed=1)) != list(row_keys(ints))


def test_hash_split_names_an_unknown_key_column(regression_frame):
    with pytest.raises(CardError, match=r"data.key .*\['order_id'\]"):
        _hash_parts(regression_frame, key=["order_id"])


def test_missing_classes_are_named():
    parts = {
        "train": pd.DataFrame({"y": ["a", "b"]}),
        "val": pd.DataFrame({"y": ["a"]}),
        "test": pd.DataFrame({"y": ["a", "b"]}),
    }
    assert missing_classes(parts, "y") == "val has no rows of class(es) b"


def test_documents_in_training_and_held_out_parts_are_counted():
    train = pd.DataFrame({"t": ["a fine film", "dull", "  ", "same here"]})
    val = pd.DataFrame({"t": ["dull", "new"]})
    test = pd.DataFrame({"t": ["a fine film", "a fine film", "  ", None, "A fine film"]})
    parts = {"train": train, "val": val, "test": test}
    (problem,) = duplicate_documents(parts, ["t"])
    assert (problem.rule, problem.column, problem.severity) == (
        "duplicate_documents",
        "t",
        "warning",
    )
    # Word for word: case differs is another document; white space alone is no document.
    assert problem.message.startswith("2 test and 1 validation row(s) hold a document")
    assert problem.examples[0] == {"part": "val", "row": 0, "text": "dull"}
    assert duplicate_documents({**parts, "test": test.iloc[2:], "val": val.iloc[1:]}, ["t"]) == []


def test_classes_without_training_rows_are_an_error_naming_them():
    parts = {
        "train": pd.DataFrame({"y": ["a", "b", "a"]}),
        "val": pd.DataFrame({"y": ["a", "c"]}),
        "test": pd.DataFrame({"y": ["c", "d", "b"]}),
    }
    (problem,) = classes_missing_from_train(parts, "y", "data/external/t.csv")
    assert problem.rule == "class_not_in_train" and problem.severity == "error"
    assert problem.file == "data/external/t.csv" and problem.column == "y"
    assert "'c', 'd'" in problem.message
    assert problem.examples == [
        {"class": "c", "val": 1, "test": 1},
        {"class": "d", "val": 0, "test": 1},
    ]
    every = pd.DataFrame({"y": list("abcd")})
    assert classes_missing_from_train({**parts, "train": every}, "y", "t.csv") == []


def test_the_split_stage_stops_before_writing_when_a_class_has_no_training_rows(
    tmp_path, monkeypatch, caplog
):
    import logging

    import yaml

    from bakeoff.fileio import write_json, write_parquet
    from bakeoff.paths import DATA_CARD, DATASET, SPLITS, split_path
    from bakeoff.stages import split as split_stage
    from conftest import PROJECT_ROOT

    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["data"] = {"name": "t", "source": {"kind": "file", "path": "t.csv"}, "target": "y"}
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    # 200 rows of two classes, then twelve classes of one row each: the hash split sends
    # some of those rows to validation or test, where no model could learn their class.
    y = ["a", "b"] * 100 + [f"rare{i}" for i in range(12)]
    write_parquet(DATASET, pd.DataFrame({"x": np.arange(len(y), dtype=float), "y": y}))
    write_json(
        DATA_CARD,
        {
            "target": "y",
            "task": "classification",
            "features": {"x": "numeric"},
            "batches": [{"file": "t.csv", "rows": len(y)}],
        },
    )
    with pytest.raises(SystemExit) as exited, caplog.at_level(logging.ERROR):
        split_stage.main()
    assert exited.value.code == 1
    assert "[class_not_in_train] file t.csv, column 'y'" in caplog.text and "'rare" in caplog.text
    assert not any(split_path(name).exists() for name in SPLITS)
