import pytest

from bakeoff.data.features import apply_steps


def test_drop_and_keep(mixed_frame):
    dropped = apply_steps(mixed_frame, [{"drop_columns": ["empty"]}], "target")
    assert list(dropped.columns) == ["x1", "x2", "colour", "target"]
    kept = apply_steps(mixed_frame, [{"keep_columns": ["x1"]}], "target")
    assert list(kept.columns) == ["x1", "target"]
    assert "empty" in mixed_frame.columns  # the input is left untouched


def test_steps_work_on_rows_without_target(mixed_frame):
    rows = mixed_frame.drop(columns=["target"])
    assert list(apply_steps(rows, [{"keep_columns": ["x2"]}], "target").columns) == ["x2"]


def test_errors_name_the_problem(mixed_frame):
    with pytest.raises(KeyError, match="nope"):
        apply_steps(mixed_frame, [{"drop_columns": ["nope"]}], "target")
    with pytest.raises(ValueError, match="unknown"):
        apply_steps(mixed_frame, [{"explode": []}], "target")
    with pytest.raises(ValueError, match="target"):
        apply_steps(mixed_frame, [{"drop_columns": ["target"]}], "target")


def test_the_row_key_is_dropped_before_models_and_may_be_absent(mixed_frame):
    keyed = mixed_frame.assign(row_id=range(len(mixed_frame)))
    steps = [{"drop_row_key": ["row_id"]}, {"drop_columns": ["empty"]}]
    out = apply_steps(keyed, steps, "target")
    assert "row_id" not in out and "empty" not in out
    assert list(apply_steps(mixed_frame, steps, "target").columns) == list(out.columns)
