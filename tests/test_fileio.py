"""The file helpers every stage writes through: atomic, and readable as a plain open() would
make them (issue 17: reports and predictions were 0600)."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from bakeoff.fileio import remove_tree, write_json, write_parquet, write_text


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_written_files_follow_the_umask_like_an_ordinary_open(tmp_path, umask_022):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    write_text(tmp_path / "report.html", "<p>x</p>")
    write_json(tmp_path / "leaderboard.json", {"a": 1})
    write_parquet(tmp_path / "predictions.parquet", pd.DataFrame({"a": [1]}))
    expected = stat.S_IMODE(plain.stat().st_mode)
    assert expected == 0o644
    for name in ("report.html", "leaderboard.json", "predictions.parquet"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "leaderboard.json",
        "plain.txt",
        "predictions.parquet",
        "report.html",
    ]  # no temporary file left behind


def test_remove_tree_removes_a_folder_and_refuses_a_link(tmp_path):
    folder = tmp_path / "model"
    (folder / "inner").mkdir(parents=True)
    (folder / "inner" / "old.bin").write_bytes(b"stale")
    remove_tree(folder)
    assert not folder.exists()
    remove_tree(folder)  # nothing there: nothing to do
    # A linked folder is not emptied through the link (the next run would write into the
    # other folder, among its files): the removal fails loudly instead.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("theirs")
    folder.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OSError, match=r"model is a symbolic link: .*remove the link"):
        remove_tree(folder)
    assert (elsewhere / "keep.txt").read_text() == "theirs"
