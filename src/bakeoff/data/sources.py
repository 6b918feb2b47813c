"""Readers for the dataset card's `source`: bundled scikit-learn data, files, URLs, OpenML.

Each reader returns the table as read (no typing, no cleaning) or raises a `DataError`
naming the file and what is wrong with it. Relative paths are resolved against the project
folder; downloads land in `data/external/` once and are reused.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from bakeoff.fileio import write_atomic
from bakeoff.params import DataConfig
from bakeoff.paths import EXTERNAL_DATA, outside_source, relative_name
from bakeoff.problems import CardError, DataError, Problem

log = logging.getLogger(__name__)

SKLEARN_DATASETS = {
    "breast_cancer": "load_breast_cancer",
    "wine": "load_wine",
    "digits": "load_digits",
    "diabetes": "load_diabetes",
}
# File suffix -> (format, default separator)
SUFFIX_FORMATS = {
    ".csv": ("csv", ","),
    ".tsv": ("csv", "\t"),
    ".tab": ("csv", "\t"),
    ".txt": ("csv", ","),
    ".data": ("csv", ","),
    ".parquet": ("parquet", None),
    ".pq": ("parquet", None),
    ".jsonl": ("jsonl", None),
    ".ndjson": ("jsonl", None),
}
FORMATS = ("csv", "parquet", "jsonl")
# Card keys under `source` that map onto pandas.read_csv arguments.
CSV_OPTIONS = ("sep", "names", "na_values", "encoding", "skipinitialspace")
DELIMITERS = (",", ";", "\t", "|")
DOWNLOAD_CHUNK = 1 << 20


def read_sklearn(source: dict[str, Any], target: str, root: Path) -> pd.DataFrame:
    """One of scikit-learn's bundled datasets, its target column renamed to `target`."""
    import sklearn.datasets

    name = source.get("name")
    if name not in SKLEARN_DATASETS:
        raise CardError(
            f"data.source.name={name!r} is not a bundled scikit-learn dataset; "
            f"choose one of {sorted(SKLEARN_DATASETS)}"
        )
    bunch = getattr(sklearn.datasets, SKLEARN_DATASETS[name])(as_frame=True)
    return bunch.frame.rename(columns={bunch.target.name: target})


def file_format(path: Path, source: dict[str, Any]) -> tuple[str, str | None]:
    suffixes = [s for s in path.suffixes if s != ".gz"] or [""]
    fmt, sep = SUFFIX_FORMATS.get(suffixes[-1].lower(), ("csv", ","))
    fmt = source.get("format", fmt)
    if fmt not in FORMATS:
        raise CardError(f"data.source.format={fmt!r} is not supported; choose one of {FORMATS}")
    return fmt, sep


def _csv_arguments(source: dict[str, Any], default_sep: str | None) -> dict[str, Any]:
    kwargs = {key: source[key] for key in CSV_OPTIONS if source.get(key) is not None}
    kwargs.setdefault("sep", default_sep or ",")
    kwargs.setdefault("encoding", "utf-8")
    if source.get("header", True) is False:
        kwargs["header"] = None
    elif source.get("names"):
        kwargs["header"] = 0  # explicit names replace the file's header row
    # Anything else pandas.read_csv accepts (decimal, comment, thousands, ...).
    kwargs.update(source.get("options") or {})
    return kwargs


def _first_line(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, errors="replace") as handle:
        return handle.readline()


def _delimiter_problem(path: Path, frame: pd.DataFrame, kwargs: dict[str, Any]) -> Problem | None:
    """Everything in one column while the header holds another delimiter: the wrong `sep`."""
    if frame.shape[1] != 1:
        return None
    line = _first_line(path, kwargs["encoding"])
    others = [d for d in DELIMITERS if d != kwargs["sep"] and d in line]
    if not others:
        return None
    try:
        guess = csv.Sniffer().sniff(line, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        guess = others[0]
    return Problem(
        "wrong_delimiter",
        f"every row was read into one column with sep={kwargs['sep']!r}, but the first line "
        f"contains {guess!r}: set data.source.sep: {guess!r}",
        file=str(path),
        examples=[line.strip()[:200]],
    )


# Leading bytes of binary formats a table is often confused with, and what they are.
MAGIC_BYTES = (
    (b"PK\x03\x04", "a zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Excel workbook (.xls)"),
    (b"PAR1", "a Parquet file"),
    (b"\x1f\x8b", "gzip-compressed"),
    (b"BZh", "bzip2-compressed"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"%PDF", "a PDF document"),
)
# Compressions pandas undoes itself when the file name ends like this.
COMPRESSED_SUFFIXES = {
    "gzip-compressed": ".gz",
    "bzip2-compressed": ".bz2",
    "xz-compressed": ".xz",
    "zstd-compressed": ".zst",
}


def binary_kind(path: Path) -> str | None:
    """What a binary file is, from its first bytes (None: not one of MAGIC_BYTES)."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    kind = next((what for magic, what in MAGIC_BYTES if head.startswith(magic)), None)
    if kind == "a zip archive" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if "xl/workbook.xml" in names:
            kind = "an Excel workbook (.xlsx, a zip archive)"
        elif len(names) == 1:
            kind = f"a zip archive holding {names[0]!r}"
    return kind


def _is_text(path: Path) -> bool:
    """UTF-8 without NUL bytes in the first 4 KiB (a character cut at the end is fine)."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def format_problem(path: Path, fmt: str, source: dict[str, Any]) -> Problem | None:
    """A binary file where text is expected (an .xlsx renamed .csv), or text where Parquet is
    expected: say what the file is, not what the text decoder stumbled on."""
    kind = binary_kind(path)
    if fmt == "parquet":
        if kind == "a Parquet file" or (kind is None and not _is_text(path)):
            return None  # Parquet, or bytes nobody can name: the reader says what it can
        what = kind or "text (perhaps CSV), not Parquet"
        return Problem(
            "wrong_format",
            f"the card reads it as parquet, but the file is {what}; set data.source.format "
            "to the file's format (csv, jsonl) or give the file its proper suffix",
            file=str(path),
        )
    if kind is None:
        return None
    suffix = COMPRESSED_SUFFIXES.get(kind)
    if suffix and path.suffix.lower() == suffix:
        return None  # pandas decompresses it by its name
    if suffix:
        fix = f"name it {path.name}{suffix} (pandas then decompresses it) or decompress it"
    elif kind == "a Parquet file":
        fix = "rename it to .parquet or set data.source.format: parquet"
    elif "Excel" in kind:
        fix = "export the sheet as CSV (or save it as Parquet) and point the card at that"
    else:
        fix = "extract or export the table as CSV, JSON lines or Parquet"
    return Problem(
        "binary_file",
        f"the card reads it as {fmt} text, but the file is {kind}: {fix}",
        file=str(path),
    )


def duplicate_columns(path: Path, kwargs: dict[str, Any]) -> Problem | None:
    """Column names that occur twice: pandas would rename the second `a` to `a.1` silently."""
    names = kwargs.get("names")
    if names is None:
        if kwargs.get("header", 0) is None:
            return None
        header_only = {k: v for k, v in kwargs.items() if k not in ("header", "nrows")}
        names = pd.read_csv(path, header=None, nrows=1, **header_only).iloc[0].tolist()
    names = [str(n).strip() for n in names]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if not repeated:
        return None
    return Problem(
        "duplicate_columns",
        f"column name(s) {repeated} occur more than once in the header (positions "
        f"{[i + 1 for i, n in enumerate(names) if n in repeated]}); rename them so every "
        "column has its own name",
        file=str(path),
        examples=repeated,
    )


def read_table(path: Path, source: dict[str, Any]) -> pd.DataFrame:
    """A CSV/TSV, Parquet or JSON-lines file with the card's read options."""
    if not path.exists():
        raise DataError(
            [
                Problem(
                    "file_missing",
                    f"the dataset file does not exist; place it at {path} "
                    "(see README, 'Your own data')",
                    file=str(path),
                )
            ]
        )
    if path.is_dir() or (path.is_file() and path.stat().st_size == 0):
        rule = "file_unreadable" if path.is_dir() else "file_empty"
        what = "is a folder, not a file" if path.is_dir() else "is empty (0 bytes)"
        raise DataError([Problem(rule, f"the dataset file {what}", file=str(path))])
    fmt, default_sep = file_format(path, source)
    kwargs = _csv_arguments(source, default_sep) if fmt == "csv" else {}
    if problem := format_problem(path, fmt, source):
        raise DataError([problem])
    try:
        if fmt == "csv" and (problem := duplicate_columns(path, kwargs)):
            raise DataError([problem])
        if fmt == "csv":
            frame = pd.read_csv(path, **kwargs)
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_json(path, lines=True, encoding=source.get("encoding", "utf-8"))
    except UnicodeDecodeError as exc:
        encoding = kwargs.get("encoding") or source.get("encoding") or "utf-8"
        raise DataError([encoding_problem(path, encoding, exc)]) from None
    except pd.errors.EmptyDataError:
        raise DataError([Problem("file_empty", "the file holds no data", file=str(path))]) from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(
            [Problem("file_unreadable", f"cannot read it as {fmt}: {exc}", file=str(path))]
        ) from None
    problems = []
    if fmt == "csv" and (problem := _delimiter_problem(path, frame, kwargs)):
        problems.append(problem)
    if frame.empty:
        problems.append(Problem("file_empty", "the file has a header but no rows", file=str(path)))
    if problems:
        raise DataError(problems)
    return frame


def first_undecodable_line(path: Path, encoding: str) -> tuple[int, bytes] | None:
    """(line number, the line's bytes) of the first line that is not valid `encoding`."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                return number, line
    return None


def encoding_problem(path: Path, encoding: str, exc: UnicodeDecodeError) -> Problem:
    """The file is not valid `encoding`: name its first bad line (a reader's error only says
    where in its buffer decoding failed)."""
    found = first_undecodable_line(path, encoding)
    if found:
        number, line = found
        where = f"line {number} ({line.rstrip()[:80]!r})"
    else:
        where = f"byte {exc.object[exc.start : exc.start + 1]!r} at position {exc.start}"
    return Problem(
        "encoding",
        f"the file is not valid {encoding}: {where}; set data.source.encoding to the file's "
        "encoding, e.g. latin-1 or cp1252",
        file=str(path),
    )


def batch_files(source: dict[str, Any], root: Path) -> list[Path]:
    """The files `path` names: one file, a list of files, a folder (every file in it, by
    name) or a glob pattern. Several files are batches of one table, read in this order."""
    paths = source["path"]
    if isinstance(paths, str | Path):
        path = root / paths
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not found:
                raise DataError(
                    [Problem("file_missing", "the batch folder holds no files", file=str(path))]
                )
            return found
        if any(ch in str(paths) for ch in "*?["):
            found = sorted(p for p in root.glob(str(paths)) if p.is_file())
            if not found:
                raise DataError(
                    [Problem("file_missing", "no file matches the pattern", file=str(path))]
                )
            return found
        return [path]
    return [root / p for p in paths]


def read_batches(files: list[Path], source: dict[str, Any]) -> list[pd.DataFrame]:
    """Every batch, read; each must have the first one's columns (all problems at once)."""
    frames, problems = [], []
    for path in files:
        try:
            frames.append(read_table(path, source))
        except DataError as exc:
            problems += exc.problems
    if problems:
        raise DataError(problems)
    expected = list(frames[0].columns)
    for path, frame in zip(files[1:], frames[1:], strict=True):
        if list(frame.columns) != expected:
            missing = [c for c in expected if c not in frame.columns]
            extra = [c for c in frame.columns if c not in expected]
            what = f"missing {missing}, unexpected {extra}" if missing or extra else "reordered"
            problems.append(
                Problem(
                    "batch_columns",
                    f"this batch's columns differ from {files[0].name}'s ({what}); every batch "
                    "must have the same columns",
                    file=str(path),
                )
            )
    if problems:
        raise DataError(problems)
    return frames


def read_file(source: dict[str, Any], target: str, root: Path) -> pd.DataFrame:
    """A local file, or several (batches, stacked in order); a single absent file is
    downloaded from `url`. `attrs["batches"]` lists the files and their row counts."""
    if not source.get("path"):
        raise CardError("data.source.path is required for kind: file")
    files = batch_files(source, root)
    frames = read_batches(files, source) if len(files) > 1 else [_read_one(files[0], source)]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.attrs["batches"] = [
        {"file": relative_name(path, root), "rows": len(part)}
        for path, part in zip(files, frames, strict=True)
    ]
    return frame


def _read_one(path: Path, source: dict[str, Any]) -> pd.DataFrame:
    failed_download: list[Problem] = []
    if not path.exists() and source.get("url"):
        try:
            download(source["url"], path, source.get("sha256"))
        except DataError as exc:
            failed_download = exc.problems
    try:
        return read_table(path, source)
    except DataError as exc:  # the download's reason, then "place it there by hand"
        raise DataError([*failed_download, *exc.problems]) from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(DOWNLOAD_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256(path: Path, expected: str | None, url: str, dest: Path) -> None:
    """`path` is `dest` itself, or the partial download that becomes `dest` once checked."""
    if expected and (actual := sha256_of(path)) != expected.lower():
        # A fresh download that fails the check is deleted, so there is no file to delete.
        fix = "delete the file to download again" if path == dest else "nothing was kept"
        raise DataError(
            [
                Problem(
                    "checksum",
                    f"sha256 is {actual}, the card expects {expected}; the download from {url} "
                    f"differs from what the card describes ({fix}, or update "
                    "data.source.sha256)",
                    file=str(dest),
                )
            ]
        )


def download(url: str, dest: Path, sha256: str | None, timeout: float = 60.0) -> Path:
    """Download `url` to `dest` once (atomically); a later call reuses the file."""
    if dest.is_file():
        _check_sha256(dest, sha256, url, dest)
        log.info("using %s (downloaded before from %s)", dest, url)
        return dest
    log.info("downloading %s to %s", url, dest)

    def failed(reason: object) -> DataError:
        return DataError(
            [Problem("download_failed", f"cannot download {url}: {reason}", file=str(dest))]
        )

    def fetch(partial: Path) -> None:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            expected = response.headers.get("Content-Length")
            written = 0
            for chunk in iter(lambda: response.read(DOWNLOAD_CHUNK), b""):
                written += out.write(chunk)
        # A connection that ends early ends the reads quietly: without this check (or a
        # sha256) the first part of the file would be taken for the dataset.
        if expected is not None and expected.isdigit() and written < int(expected):
            raise failed(f"the connection ended after {written} of {expected} bytes")
        _check_sha256(partial, sha256, url, dest)

    try:
        write_atomic(dest, fetch)
    # URLError is an OSError; http.client's IncompleteRead (a chunked transfer cut short) is not.
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # an HTTPError holds the open response (ResourceWarning otherwise)
        raise failed(exc) from None
    return dest


def read_url(source: dict[str, Any], target: str, root: Path) -> pd.DataFrame:
    """A file downloaded once into data/external/ (optionally checked against sha256)."""
    url = source.get("url")
    if not url or urlparse(url).scheme not in ("http", "https"):
        raise CardError(f"data.source.url must be an http(s) URL, got {url!r}")
    name = source.get("file_name") or Path(urlparse(url).path).name or "download"
    path = download(url, root / EXTERNAL_DATA / name, source.get("sha256"))
    return read_table(path, source)


def read_openml(source: dict[str, Any], target: str, root: Path) -> pd.DataFrame:
    """An OpenML dataset by `data_id` or `name` (+ `version`), cached in data/external/openml."""
    from sklearn.datasets import fetch_openml

    if not (source.get("data_id") or source.get("name")):
        raise CardError("data.source needs data_id or name for kind: openml")
    try:
        bunch = fetch_openml(
            name=None if source.get("data_id") else source["name"],
            data_id=source.get("data_id"),
            version=source.get("version", "active"),
            data_home=str(root / EXTERNAL_DATA),  # fetch_openml adds "openml/" itself
            target_column=None,  # keep every column; the card names the target
            as_frame=True,
            n_retries=source.get("retries", 1),
        )
    except (urllib.error.URLError, OSError) as exc:
        what = source.get("data_id") or source.get("name")
        raise DataError(
            [
                Problem(
                    "download_failed",
                    f"cannot fetch OpenML dataset {what!r}: {exc} (needs internet the first "
                    f"time; cached in {EXTERNAL_DATA / 'openml'} afterwards)",
                )
            ]
        ) from None
    return bunch.frame


READERS: dict[str, Callable[..., pd.DataFrame]] = {
    "sklearn": read_sklearn,
    "file": read_file,
    "url": read_url,
    "openml": read_openml,
}
KINDS = (*READERS, "images", "text_folder")


def named_paths(source: dict[str, Any]) -> list[str]:
    """The paths a file or image card names (one, a list, a folder or a glob pattern)."""
    paths = source.get("path")
    if not paths:
        return []
    return [str(p) for p in paths] if isinstance(paths, list | tuple) else [str(paths)]


def outside_problems(source: dict[str, Any], root: Path) -> list[Problem]:
    """Source paths outside the project: refused unless the card allows them, and then only
    as one absolute file or folder, the form dvc.yaml can list as a dependency (so that DVC
    sees it change; see paths.outside_source)."""
    problems = []
    project = os.path.abspath(root)
    allowed = bool(source.get("allow_outside_project"))
    for name in named_paths(source):
        # Normalised, not resolved: a symlink placed in data/external is the user's choice
        # and DVC hashes what it points at; `..` and absolute paths are what leave the project.
        where = os.path.abspath(os.path.join(project, name))
        if os.path.commonpath([project, where]) == project:
            continue
        if not allowed:
            message = (
                f"the card's source.path {name!r} lies outside the project ({project}); the "
                f"pipeline reads only files it tracks: copy or link it into {EXTERNAL_DATA}/ "
                "and point the card there, or, to read it in place, set "
                "data.source.allow_outside_project: true (it then becomes a dependency DVC "
                "checks on every run)"
            )
        elif outside_source(source) != os.path.normpath(name):
            message = (
                f"source.allow_outside_project reads {name!r} in place only as one absolute "
                "path to a file or folder (no list, pattern or relative path), the form DVC "
                "can track as a dependency; give its absolute path, or copy it into "
                f"{EXTERNAL_DATA}/"
            )
        else:
            continue
        problems.append(Problem("outside_project", message, file=where))
    return problems


def read_source(data: DataConfig, root: Path) -> pd.DataFrame:
    """The card's source as a table; image datasets as one float pixel column per value;
    a folder of text files as one document per row."""
    kind = data.source.get("kind")
    if kind in ("file", "images") and (problems := outside_problems(data.source, root)):
        raise DataError(problems)
    if kind == "images":
        from bakeoff.data.images import read_images

        return read_images(data.source, data.image, data.target, root)
    if kind == "text_folder":
        from bakeoff.data.text_folder import read_text_folder

        return read_text_folder(data.source, data.target, root)
    if kind not in READERS:
        raise CardError(f"data.source.kind={kind!r} is not supported; choose one of {KINDS}")
    return READERS[kind](data.source, data.target, root)
