"""A folder of text files (`<path>/<class>/*.txt`) as a dataset: reading, typing, bad files."""

from __future__ import annotations

import pytest

from bakeoff.data.ingestion import ingest
from bakeoff.data.sources import read_source
from bakeoff.params import DataConfig
from bakeoff.problems import CardError, DataError


def card(**source) -> DataConfig:
    return DataConfig(
        name="t", source={"kind": "text_folder", "path": "docs", **source}, target="y"
    )


def write(root, files: dict[str, bytes | str]) -> None:
    for name, content in files.items():
        path = root / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode("utf-8")
        path.write_bytes(content)


def test_one_row_per_file_class_from_the_folder_sorted(tmp_path):
    write(
        tmp_path,
        {
            "pos/b.txt": "Loved it.",
            "pos/a.txt": "A wonderful film, naïve and warm.",
            "neg/z.txt": "Dull.",
            "neg/.hidden.txt": "skipped",
            "neg/notes.md": "not a .txt file",
            "stray.txt": "outside every class folder",
        },
    )
    frame = read_source(card(), tmp_path)
    assert frame["y"].tolist() == ["neg", "pos", "pos"]
    assert frame["text"].tolist() == ["Dull.", "A wonderful film, naïve and warm.", "Loved it."]


def test_short_documents_are_still_text_and_the_column_name_is_configurable(tmp_path):
    write(tmp_path, {"pos/1.txt": "Yes", "pos/2.txt": "Yes", "neg/1.txt": "No", "neg/2.txt": "No"})
    data = card(text_column="review")
    _, raw_card, problems = ingest(read_source(data, tmp_path), data)
    assert problems == []
    assert raw_card["features"] == {"review": "text"}


def test_latin1_files_read_with_the_configured_encoding(tmp_path):
    write(tmp_path, {"pos/1.txt": "Très bien".encode("latin-1"), "neg/1.txt": "Nul"})
    frame = read_source(card(encoding="latin-1"), tmp_path)
    assert "Très bien" in frame["text"].tolist()


def test_every_bad_file_is_named_at_once(tmp_path):
    write(
        tmp_path,
        {
            "pos/good.txt": "fine",
            "pos/bad.txt": "line one\nline two\ncaf\xe9 line three\n".encode("latin-1"),
            "neg/worse.txt": b"\xff\xfe",
        },
    )
    (tmp_path / "docs" / "empty").mkdir()
    with pytest.raises(DataError) as error:
        read_source(card(), tmp_path)
    found = {(p.rule, p.file): p.message for p in error.value.problems}
    assert set(found) == {
        ("encoding", "docs/pos/bad.txt"),
        ("encoding", "docs/neg/worse.txt"),
        ("text_class_empty", "docs/empty"),
    }
    assert (
        "not valid utf-8: line 3 (b'caf\\xe9 line three')" in found["encoding", "docs/pos/bad.txt"]
    )
    assert "data.source.encoding" in found["encoding", "docs/neg/worse.txt"]


@pytest.mark.parametrize(
    ("files", "rule"),
    [({}, "text_source_missing"), ({"loose.txt": "x"}, "text_no_classes")],
)
def test_a_folder_without_classes_is_named(tmp_path, files, rule):
    write(tmp_path, files)
    with pytest.raises(DataError) as error:
        read_source(card(), tmp_path)
    assert [p.rule for p in error.value.problems] == [rule]


def test_the_text_column_may_not_be_the_target(tmp_path):
    write(tmp_path, {"pos/1.txt": "x"})
    with pytest.raises(CardError, match=r"text_column='y' is also data\.target"):
        read_source(card(text_column="y"), tmp_path)
