"""Inputs for the networks: numbers then category codes with a layout; pixel columns in order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bakeoff.models.network_inputs import (
    MISSING_CODE,
    UNKNOWN_CODE,
    CategoryCodes,
    Pixels,
    quantile_codes,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    """Numbers (one with NaN), a date, two category columns (one with NaN), as ingest types them."""
    return pd.DataFrame(
        {
            "x": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
            "n": np.arange(6, dtype=np.int64),
            "colour": pd.Series(["red", "blue", None, "red", "green", "blue"], dtype="str"),
            "size": pd.Series(["s", "m", "l", "s", "m", "l"], dtype="str"),
            "when": pd.to_datetime(
                ["2024-01-01", "2024-02-01", None, "2024-03-05", "2025-06-01", "2025-06-01"]
            ),
        }
    )


def test_codes_reserve_unknown_and_missing(frame):
    codes = CategoryCodes().fit(frame[["colour", "size"]])
    assert [list(c) for c in codes.categories_] == [["blue", "green", "red"], ["l", "m", "s"]]
    assert codes.cardinalities_ == [5, 5]
    out = codes.transform(frame[["colour", "size"]])
    assert out.dtype == np.int64
    assert out[:, 0].tolist() == [4, 2, MISSING_CODE, 4, 3, 2]


def test_unseen_category_is_unknown_and_untrained_missing_is_unknown(frame):
    codes = CategoryCodes().fit(frame[["colour", "size"]])
    new = pd.DataFrame(
        {
            "colour": pd.Series(["ultraviolet", None, "red"], dtype="str"),
            "size": pd.Series(["xl", None, "m"], dtype="str"),  # no NaN in training
        }
    )
    out = codes.transform(new)
    assert out[:, 0].tolist() == [UNKNOWN_CODE, MISSING_CODE, 4]
    assert out[:, 1].tolist() == [UNKNOWN_CODE, UNKNOWN_CODE, 3]


def test_quantile_codes_puts_numbers_first_and_describes_layout(frame):
    prep = quantile_codes(random_state=0)
    out = prep.fit_transform(frame)
    # x, n, then five date parts, then the two code columns
    assert prep.layout_ == {"n_numeric": 7, "cardinalities": [5, 5]}
    assert out.shape == (6, 9)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(
        out[:, 7:], CategoryCodes().fit_transform(frame[["colour", "size"]])
    )
    np.testing.assert_array_equal(prep.transform(frame), out)


def test_quantile_codes_without_categories_or_without_numbers(frame):
    numbers = quantile_codes(0)
    assert numbers.fit_transform(frame[["x", "n"]]).shape == (6, 2)
    assert numbers.layout_ == {"n_numeric": 2, "cardinalities": []}
    categories = quantile_codes(0)
    out = categories.fit_transform(frame[["colour"]])
    assert categories.layout_ == {"n_numeric": 0, "cardinalities": [5]}
    assert out.shape == (6, 1)


def test_pixels_come_in_index_order_with_missing_as_zero():
    frame = pd.DataFrame({f"pixel_{i}": [float(i), np.nan] for i in range(8)})
    shuffled = frame[[f"pixel_{i}" for i in (3, 1, 7, 0, 2, 6, 4, 5)]].assign(label=[0, 1])
    out = Pixels(image_shape=[1, 2, 4]).fit(shuffled).transform(shuffled)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [np.arange(8.0), np.zeros(8)])


def test_pixels_name_missing_columns_and_missing_shape():
    frame = pd.DataFrame({f"pixel_{i}": [0.0] for i in range(3)})
    with pytest.raises(ValueError, match=r"needs 4 pixel columns.*missing: pixel_3"):
        Pixels(image_shape=[1, 2, 2]).fit(frame)
    with pytest.raises(ValueError, match=r"image\.shape"):
        Pixels().fit(frame)
