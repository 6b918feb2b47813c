"""Input that used to load without a word (issue 17): each now gets a message naming the
file, the column and the rule; errors stop before training, warnings are recorded in the
data card (validate) and so in the report."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pandas as pd
import pytest
import yaml

from bakeoff.data.ingestion import ingest
from bakeoff.data.sources import read_source
from bakeoff.params import params_from_mapping
from bakeoff.problems import DataError, errors, warnings
from bakeoff.stages import validate as validate_stage
from conftest import PROJECT_ROOT

BASE = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())


def params_for(path: str, **data):
    raw = {**BASE, "data": {"name": "t", "source": {"kind": "file", "path": path}, **data}}
    return params_from_mapping(raw)


def validated(tmp_path, frame: pd.DataFrame, **data):
    """Write `frame` as t.csv, read, ingest and validate it: (card, problems)."""
    frame.to_csv(tmp_path / "t.csv", index=False)
    params = params_for("t.csv", target="label", **data)
    table, card, problems = ingest(read_source(params.data, tmp_path), params.data)
    assert problems == []
    _, card, problems = validate_stage.validate(table, card, params)
    return card, problems


def only(problems, rule):
    (found,) = [p for p in problems if p.rule == rule]
    return found


def table(n: int = 400, seed: int = 0, **columns) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=n).round(6), "label": np.tile(["a", "b"], n // 2)})
    return frame.assign(**columns)


def test_classification_target_with_many_numbers_is_flagged_with_the_fix(tmp_path):
    rng = np.random.default_rng(1)
    frame = table(n=400).assign(label=rng.normal(50, 10, 400).round(1))
    assert frame["label"].nunique() > 150
    card, problems = validated(tmp_path, frame, task="classification")
    problem = only(warnings(problems), "target_looks_continuous")
    assert problem.column == "label" and problem.file == "t.csv"
    assert f"{frame['label'].nunique()} distinct non-integer values" in problem.message
    assert "set data.task: regression" in problem.message
    assert "target_looks_continuous" in [w["rule"] for w in card["validation"]["warnings"]]


def test_a_few_words_in_a_numeric_column_are_named_with_share_and_examples(tmp_path):
    numbers = pd.Series(np.random.default_rng(2).normal(size=400).round(2)).astype(object)
    numbers[::10] = "oops"  # 10 %
    card, problems = validated(tmp_path, table(measure=numbers))
    assert card["features"]["measure"] == "categorical"  # what was done, as the warning says
    problem = only(warnings(problems), "mostly_numeric")
    assert problem.column == "measure" and problem.file == "t.csv"
    assert "90% of its 400 values are numbers, 10.0% are not (e.g. ['oops'])" in problem.message
    assert "data.source.na_values: ['oops']" in problem.message
    assert problem.action == "kept as categorical"
    assert problem.examples[0] == {"row": 0, "value": "oops"}


def test_an_identifier_column_is_flagged(tmp_path):
    ids = [f"cust-{i:05d}" for i in range(400)]
    _, problems = validated(tmp_path, table(customer=ids))
    problem = only(warnings(problems), "id_like_column")
    assert problem.column == "customer" and "every one of its 400 rows" in problem.message
    assert "data.drop_columns" in problem.message and "data.key" in problem.message
    # Named as the row key it is no feature, and not flagged.
    _, problems = validated(tmp_path, table(customer=ids), key=["customer"])
    assert not [p for p in problems if p.rule == "id_like_column"]


def test_a_category_with_hundreds_of_rare_levels_says_how_it_is_encoded(tmp_path):
    levels = [f"shop{i % 500}" for i in range(1500)]  # 500 levels, 3 rows each
    _, problems = validated(tmp_path, table(n=1500, shop=levels))
    problem = only(warnings(problems), "many_categories")
    assert problem.column == "shop"
    assert "500 categories with a median of 3 row(s) each" in problem.message
    assert "one-hot encode it (500 columns)" in problem.message
    assert "embedding" in problem.message


def test_a_clean_table_raises_none_of_these(tmp_path):
    colour = np.random.default_rng(3).choice(["red", "green", "blue"], size=400)
    _, problems = validated(tmp_path, table(colour=colour))
    assert problems == []


def read_error(tmp_path, name: str, content: bytes, **source) -> DataError:
    (tmp_path / name).write_bytes(content)
    params = params_for(name, target="label")
    params.data.source.update(source)
    with pytest.raises(DataError) as caught:
        read_source(params.data, tmp_path)
    return caught.value


def test_duplicate_column_names_are_an_error_not_a_silent_rename(tmp_path):
    error = read_error(tmp_path, "t.csv", b"a,b,a,label\n1,2,3,x\n4,5,6,y\n")
    (problem,) = error.problems
    assert problem.rule == "duplicate_columns" and problem.file.endswith("t.csv")
    assert "['a'] occur more than once in the header (positions [1, 3])" in problem.message


def xlsx_bytes() -> bytes:
    """The parts of a real .xlsx workbook (a zip of XML files)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
        archive.writestr("xl/worksheets/sheet1.xml", '<?xml version="1.0"?><worksheet/>')
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (xlsx_bytes(), "the file is an Excel workbook (.xlsx, a zip archive): export the sheet"),
        (gzip.compress(b"a,label\n1,x\n"), "gzip-compressed: name it t.csv.gz"),
        (b"PAR1" + b"\x00" * 64, "the file is a Parquet file: rename it to .parquet"),
    ],
    ids=["xlsx", "gzip", "parquet"],
)
def test_a_binary_file_named_csv_is_named_for_what_it_is(tmp_path, content, says):
    (problem,) = read_error(tmp_path, "t.csv", content).problems
    assert problem.rule == "binary_file" and problem.file.endswith("t.csv")
    assert says in problem.message
    assert "utf-8" not in problem.message


def test_a_gzip_file_named_gz_is_read(tmp_path):
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(b"a,label\n1,x\n2,y\n"))
    frame = read_source(params_for("t.csv.gz", target="label").data, tmp_path)
    assert list(frame.columns) == ["a", "label"] and len(frame) == 2


@pytest.mark.parametrize("where", ["../../etc/passwd", "ABSOLUTE"])
def test_a_source_outside_the_project_is_refused_with_where_to_put_it(tmp_path, where):
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("a,label\n1,x\n2,y\n")
    path = str(outside) if where == "ABSOLUTE" else where
    with pytest.raises(DataError) as caught:
        read_source(params_for(path, target="label").data, project)
    (problem,) = caught.value.problems
    assert problem.rule == "outside_project"
    assert "lies outside the project" in problem.message
    assert "into data/external/" in problem.message
    assert "data.source.allow_outside_project: true" in problem.message


def test_an_allowed_outside_source_must_be_one_absolute_path_and_is_then_read(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("a,label\n1,x\n2,y\n")
    allowed = {"allow_outside_project": True}
    params = params_for(str(outside), target="label")
    params.data.source.update(allowed)
    assert list(read_source(params.data, project)["a"]) == [1, 2]
    relative = params_for("../elsewhere.csv", target="label")
    relative.data.source.update(allowed)
    with pytest.raises(DataError, match="only as one absolute path"):
        read_source(relative.data, project)
    assert errors([]) == []
