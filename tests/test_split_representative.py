"""The default split on tables with duplicate rows (issue 17): keyed by batch file and row
position, copies of a row spread over the parts like any other rows, and a part whose target
is off by more than sampling error is named loudly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bakeoff.data.splitting import split_frame, unrepresentative_parts
from bakeoff.params import SplitConfig
from bakeoff.reporting.html import data_context


def with_copies(n: int = 2000, copies: int = 600) -> pd.DataFrame:
    """`n` rows, `copies` of them one and the same positive row (a block of duplicates)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=n - copies)
    rows = pd.DataFrame({"x": x, "label": np.where(x > 0.5, "pos", "neg")})
    block = pd.DataFrame({"x": [3.0] * copies, "label": ["pos"] * copies})
    return pd.concat([rows, block], ignore_index=True)


def parts_of(frame, key: str = "batch_row", batches=None):
    config = SplitConfig(key=key)
    return split_frame(
        frame, target="label", task="classification", config=config, seed=42, batches=batches
    )


def test_copies_of_a_row_spread_over_the_parts_and_every_part_is_representative():
    frame = with_copies()
    whole = (frame["label"] == "pos").mean()
    parts = parts_of(frame)
    for name, part in parts.items():
        share = (part["label"] == "pos").mean()
        assert share == pytest.approx(whole, abs=0.05), name
        assert part.index.isin(frame.index[-600:]).mean() == pytest.approx(0.3, abs=0.06), name
    assert unrepresentative_parts(parts, "label", "classification") == []


def test_hashing_whole_rows_stays_available_and_its_skew_is_named():
    parts = parts_of(with_copies(), key="content")
    holder = next(name for name, part in parts.items() if (part["x"] == 3.0).any())
    assert all((part["x"] == 3.0).sum() in (0, 600) for part in parts.values())  # one part
    found = unrepresentative_parts(parts, "label", "classification")
    assert holder in [f["part"] for f in found]
    message = next(f["message"] for f in found if f["part"] == holder)
    assert f"the {holder} split is not representative: class 'pos'" in message
    assert "split.key: batch_row" in message


def test_rows_keep_their_part_when_a_batch_is_appended():
    first = with_copies(1000, 100)
    second = with_copies(500, 0).assign(x=lambda f: f["x"] + 10)
    before = parts_of(first, batches=[{"file": "a.csv", "rows": 1000}])
    both = pd.concat([first, second], ignore_index=True)
    batches = [{"file": "a.csv", "rows": 1000}, {"file": "b.csv", "rows": 500}]
    after = parts_of(both, batches=batches)
    for name in before:
        assert set(before[name].index) == set(after[name].index[after[name].index < 1000])
    # A new batch's rows are keyed by their own file: they do not copy a's parts.
    shares = {k: len(v) / len(both) for k, v in after.items()}
    assert shares["test"] == pytest.approx(0.2, abs=0.04)


def test_a_regression_part_with_an_off_mean_is_named():
    rng = np.random.default_rng(1)
    parts = {
        "train": pd.DataFrame({"y": rng.normal(0, 1, 600)}),
        "val": pd.DataFrame({"y": rng.normal(0, 1, 200)}),
        "test": pd.DataFrame({"y": rng.normal(0.5, 1, 200)}),
    }
    found = {f["part"]: f["message"] for f in unrepresentative_parts(parts, "y", "regression")}
    assert "the test split is not representative: its target mean is" in found["test"]


def test_the_report_lists_the_split_warning_with_the_data_warnings():
    card = {"features": {"x": "numeric"}, "target": "label", "task": "classification"}
    card |= {"rows": 10, "content_hash": "0" * 16, "batches": []}
    split = {"unrepresentative": [{"part": "test", "message": "the test split is not ..."}]}
    warnings = data_context(card, split)["warnings"]
    assert warnings == [
        {
            "rule": "unrepresentative_split",
            "column": "label",
            "message": "the test split is not ...",
        }
    ]
