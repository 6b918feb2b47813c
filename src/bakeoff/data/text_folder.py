"""A folder of text files as a table: `<path>/<class>/*.txt`, one document per row.

The dataset card (`data.source.kind: text_folder`) names the folder (`path`), the text
column (`text_column`, default "text") and the files' `encoding` (default utf-8). Each row
holds one file's text and its class (the folder's name) in the target column; rows are in
sorted order of class, then file name. Hidden files are skipped, `.txt` files outside class
folders are ignored with a warning. Every unreadable file is reported at once, naming the
file and, for bytes that are not the encoding, its first bad line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from bakeoff.data.sources import first_undecodable_line
from bakeoff.paths import relative_name
from bakeoff.problems import CardError, DataError, Problem

log = logging.getLogger(__name__)

SUFFIX = ".txt"
TEXT_COLUMN = "text"


def _class_folders(path: Path, root: Path) -> list[Path]:
    where = relative_name(path, root)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise DataError([Problem("text_source_missing", f"the text folder {what}", file=where)])
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    folders = [p for p in entries if p.is_dir()]
    loose = [p.name for p in entries if p.is_file() and p.suffix.lower() == SUFFIX]
    if not folders:
        hint = f"; found {len(loose)} {SUFFIX} file(s) directly in it" if loose else ""
        message = f"no class subfolders: put each class's files in <path>/<class>/{hint}"
        raise DataError([Problem("text_no_classes", message, file=where, examples=loose)])
    if loose:
        log.warning("%s: ignoring %d %s file(s) outside class folders", where, len(loose), SUFFIX)
    return folders


def _read(path: Path, encoding: str, root: Path) -> tuple[str | None, Problem | None]:
    """One file's text, or the problem that stops it from being read."""
    where = relative_name(path, root)
    try:
        return path.read_text(encoding=encoding), None
    except UnicodeDecodeError:
        number, line = first_undecodable_line(path, encoding) or (0, b"")
        message = (
            f"not valid {encoding}: line {number} ({line.rstrip()[:80]!r}); set "
            "data.source.encoding to the files' encoding, e.g. latin-1 or cp1252"
        )
        return None, Problem("encoding", message, file=where)
    except OSError as error:
        return None, Problem("text_unreadable", f"cannot read it ({error})", file=where)


def read_text_folder(source: dict[str, Any], target: str, root: Path) -> pd.DataFrame:
    """The documents under `source["path"]` as a frame: the text column and `target`."""
    if not source.get("path"):
        raise CardError("data.source.path is required for kind: text_folder")
    column = source.get("text_column", TEXT_COLUMN)
    if column == target:
        raise CardError(f"data.source.text_column={column!r} is also data.target")
    encoding = source.get("encoding", "utf-8")
    texts, labels, problems = [], [], []
    for folder in _class_folders(Path(root) / source["path"], Path(root)):
        files = sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() == SUFFIX and not p.name.startswith(".")
        )
        if not files:
            problems.append(
                Problem(
                    "text_class_empty",
                    f"class folder {folder.name!r} holds no {SUFFIX} files",
                    file=relative_name(folder, Path(root)),
                )
            )
        for path in files:
            text, problem = _read(path, encoding, Path(root))
            if problem:
                problems.append(problem)
            else:
                texts.append(text)
                labels.append(folder.name)
    if problems:
        raise DataError(problems)
    log.info("read %d documents in %d classes", len(texts), len(set(labels)))
    return pd.DataFrame({column: pd.Series(texts, dtype="str"), target: labels})
