"""Source readers: file formats and read options, unreadable files, URL downloads, OpenML.

Every fixture is written into tmp_path by the test itself. The URL tests talk to a local
HTTP server on 127.0.0.1; the OpenML tests read a hand-built scikit-learn cache with DNS
blocked, so nothing here reaches the internet.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from bakeoff.data.sources import read_source
from bakeoff.params import DataConfig, compose_conf
from bakeoff.problems import CardError, DataError, Problem
from conftest import PROJECT_ROOT

CSV_TEXT = "x,colour,y\n1.5,red,0\n2.5,blue,1\n"


def read(root: Path, source: dict[str, Any], target: str = "y") -> pd.DataFrame:
    return read_source(DataConfig(name="t", source=source, target=target), root)


def read_file(root: Path, path: str, **options: Any) -> pd.DataFrame:
    return read(root, {"kind": "file", "path": path, **options})


def single_problem(error: pytest.ExceptionInfo[DataError], rule: str, file: Path) -> Problem:
    """The one problem of a DataError, checked to name `rule` and `file` in its message."""
    [problem] = error.value.problems
    assert (problem.rule, problem.file) == (rule, str(file))
    assert f"[{rule}] file {file}" in str(error.value)
    return problem


def file_error(root: Path, path: str, rule: str, **options: Any) -> Problem:
    with pytest.raises(DataError) as error:
        read_file(root, path, **options)
    return single_problem(error, rule, root / path)


# --- kind: file ------------------------------------------------------------------------


def test_csv_with_header(tmp_path):
    (tmp_path / "t.csv").write_text(CSV_TEXT)
    frame = read_file(tmp_path, "t.csv")
    assert list(frame.columns) == ["x", "colour", "y"]
    assert frame["x"].tolist() == [1.5, 2.5]
    assert frame["colour"].tolist() == ["red", "blue"]


def test_csv_with_configured_semicolon(tmp_path):
    (tmp_path / "t.csv").write_text(CSV_TEXT.replace(",", ";"))
    frame = read_file(tmp_path, "t.csv", sep=";")
    assert list(frame.columns) == ["x", "colour", "y"]
    assert frame["y"].tolist() == [0, 1]


def test_tsv_by_suffix(tmp_path):
    (tmp_path / "t.tsv").write_text(CSV_TEXT.replace(",", "\t"))
    frame = read_file(tmp_path, "t.tsv")
    assert list(frame.columns) == ["x", "colour", "y"]
    assert frame.shape == (2, 3)


def test_no_header_with_names(tmp_path):
    (tmp_path / "t.data").write_text("1.5,red,0\n2.5,blue,1\n")
    frame = read_file(tmp_path, "t.data", header=False, names=["x", "colour", "y"])
    assert list(frame.columns) == ["x", "colour", "y"]
    assert frame["x"].tolist() == [1.5, 2.5]  # the first line is data, not a header


def test_adult_style_missing_values(tmp_path):
    (tmp_path / "adult.data").write_text(
        "39, State-gov, ?, <=50K\n50, Self-emp-not-inc, Exec-managerial, >50K\n"
    )
    frame = read_file(
        tmp_path,
        "adult.data",
        header=False,
        names=["age", "workclass", "occupation", "income"],
        na_values=["?"],
        skipinitialspace=True,
    )
    assert frame["age"].tolist() == [39, 50]
    assert frame["workclass"].tolist() == ["State-gov", "Self-emp-not-inc"]  # no leading space
    assert pd.isna(frame.loc[0, "occupation"])
    assert frame.loc[1, "occupation"] == "Exec-managerial"
    assert frame["income"].tolist() == ["<=50K", ">50K"]


def test_latin1_encoding(tmp_path):
    (tmp_path / "t.csv").write_bytes("city,y\nMünchen,1\nSão Paulo,0\n".encode("latin-1"))
    frame = read_file(tmp_path, "t.csv", encoding="latin-1")
    assert frame["city"].tolist() == ["München", "São Paulo"]


def test_parquet(tmp_path):
    expected = pd.DataFrame({"x": [1.5, 2.5], "colour": ["red", "blue"], "y": [0, 1]})
    expected.to_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_file(tmp_path, "t.parquet"), expected)


def test_json_lines(tmp_path):
    (tmp_path / "t.jsonl").write_text(
        '{"x": 1.5, "colour": "red", "y": 0}\n{"x": 2.5, "colour": "blue", "y": 1}\n'
    )
    frame = read_file(tmp_path, "t.jsonl")
    assert list(frame.columns) == ["x", "colour", "y"]
    assert frame["x"].tolist() == [1.5, 2.5]


def test_options_pass_through_to_read_csv(tmp_path):
    (tmp_path / "t.csv").write_text("x;y\n1,5;0\n2,25;1\n")
    frame = read_file(tmp_path, "t.csv", sep=";", options={"decimal": ","})
    assert frame["x"].tolist() == [1.5, 2.25]


# --- kind: file, bad input -------------------------------------------------------------


def test_missing_file(tmp_path):
    problem = file_error(tmp_path, "absent.csv", "file_missing")
    assert "place it at" in problem.message


def test_empty_file(tmp_path):
    (tmp_path / "t.csv").write_bytes(b"")
    file_error(tmp_path, "t.csv", "file_empty")


def test_header_only_csv(tmp_path):
    (tmp_path / "t.csv").write_text("x,colour,y\n")
    problem = file_error(tmp_path, "t.csv", "file_empty")
    assert "no rows" in problem.message


def test_non_utf8_without_encoding(tmp_path):
    (tmp_path / "t.csv").write_bytes("city,y\nMünchen,1\n".encode("latin-1"))
    problem = file_error(tmp_path, "t.csv", "encoding")
    assert "set data.source.encoding" in problem.message


def test_non_utf8_names_the_first_bad_line(tmp_path):
    """Far into a file, past pandas' first read buffer: the line, not a buffer offset."""
    rows = [f"review number {i} is fine,1" for i in range(20000)]
    rows[15000] = "café crème was fine,0"
    data = ("text,y\n" + "\n".join(rows) + "\n").encode("utf-8")
    data = data.replace("café crème".encode(), "café crème".encode("latin-1"))
    (tmp_path / "t.csv").write_bytes(data)
    problem = file_error(tmp_path, "t.csv", "encoding")
    assert "not valid utf-8: line 15002 (b'caf\\xe9 cr\\xe8me was fine,0')" in problem.message


def test_non_utf8_json_lines_name_the_line(tmp_path):
    (tmp_path / "t.jsonl").write_bytes(b'{"text": "fine", "y": 1}\n{"text": "na\xefve", "y": 0}\n')
    problem = file_error(tmp_path, "t.jsonl", "encoding")
    assert "not valid utf-8: line 2" in problem.message


def test_wrong_delimiter(tmp_path):
    (tmp_path / "t.csv").write_text(CSV_TEXT.replace(",", ";"))
    problem = file_error(tmp_path, "t.csv", "wrong_delimiter")
    assert "data.source.sep: ';'" in problem.message


def test_garbage_as_parquet(tmp_path):
    (tmp_path / "t.parquet").write_bytes(b"this is not parquet\x00\xff" * 4)
    problem = file_error(tmp_path, "t.parquet", "file_unreadable")
    assert "parquet" in problem.message


# --- kind: url -------------------------------------------------------------------------


class Site:
    """A local HTTP server on 127.0.0.1 serving `folder`, recording the paths requested."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.requests: list[str] = []
        site = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                if self.path == "/cut.csv":  # a download the connection ends early
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(CSV_TEXT[:12].encode())
                    self.close_connection = True
                    return
                super().do_GET()

            def log_message(self, *args: Any) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=folder))
        # A short poll interval so that shutdown() returns at once.
        serve = partial(self.server.serve_forever, poll_interval=0.01)
        self.thread = threading.Thread(target=serve, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"


@pytest.fixture
def site(tmp_path, monkeypatch) -> Iterator[Site]:
    # A proxy configured on the machine must not intercept requests to 127.0.0.1.
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "t.csv").write_text(CSV_TEXT)
    served = Site(folder)
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()
    served.thread.join()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_url_downloads_once_then_reads_the_cached_file(tmp_path, site):
    root = tmp_path / "project"
    source = {"kind": "url", "url": site.url("t.csv"), "sha256": sha256_text(CSV_TEXT)}
    frame = read(root, source)
    assert (root / "data/external/t.csv").read_text() == CSV_TEXT
    assert frame["colour"].tolist() == ["red", "blue"]
    assert site.requests == ["/t.csv"]

    pd.testing.assert_frame_equal(read(root, source), frame)
    assert site.requests == ["/t.csv"]  # served from data/external, not downloaded again


def test_url_wrong_sha256_keeps_nothing(tmp_path, site):
    root = tmp_path / "project"
    with pytest.raises(DataError) as error:
        read(root, {"kind": "url", "url": site.url("t.csv"), "sha256": "0" * 64})
    single_problem(error, "checksum", root / "data/external/t.csv")
    assert list((root / "data/external").iterdir()) == []  # neither t.csv nor .t.csv.part


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("absent.csv", "404"),
        # the reads end quietly: the check against Content-Length must catch it
        ("cut.csv", "the connection ended after 12 of 1000 bytes"),
    ],
)
def test_a_failed_download_says_why_and_keeps_nothing(tmp_path, site, name, reason):
    root = tmp_path / "project"
    with pytest.raises(DataError) as error:
        read(root, {"kind": "url", "url": site.url(name)})
    problem = single_problem(error, "download_failed", root / "data/external" / name)
    assert reason in problem.message
    assert list((root / "data/external").iterdir()) == []


def test_file_with_a_url_is_downloaded_when_absent(tmp_path, site):
    root = tmp_path / "project"
    source = {"kind": "file", "path": "data/external/mine.csv", "url": site.url("t.csv")}
    assert read(root, source)["colour"].tolist() == ["red", "blue"]
    assert (root / "data/external/mine.csv").read_text() == CSV_TEXT
    read(root, source)
    assert site.requests == ["/t.csv"]


def test_file_whose_download_fails_says_why_and_where_to_place_it(tmp_path, site):
    root = tmp_path / "project"
    source = {"kind": "file", "path": "data/external/mine.csv", "url": site.url("absent.csv")}
    with pytest.raises(DataError) as error:
        read(root, source)
    assert [p.rule for p in error.value.problems] == ["download_failed", "file_missing"]
    assert f"place it at {root / 'data/external/mine.csv'}" in str(error.value)


def test_url_must_be_http(tmp_path):
    with pytest.raises(CardError, match="http"):
        read(tmp_path, {"kind": "url", "url": "ftp://127.0.0.1/t.csv"})


# --- kind: openml ----------------------------------------------------------------------

OPENML_ID = 424242
OPENML_NAME = "tiny-fixture"
OPENML_ROWS = [
    (i * 0.5, ["red", "blue", "green"][i % 3], "yes" if i % 2 else "no") for i in range(12)
]
OPENML_ARFF = (
    "% A tiny dataset in the format OpenML serves\n"
    f"@RELATION {OPENML_NAME}\n\n"
    "@ATTRIBUTE size NUMERIC\n"
    "@ATTRIBUTE colour {red,blue,green}\n"
    "@ATTRIBUTE class {no,yes}\n\n"
    "@DATA\n" + "".join(f"{size},{colour},{label}\n" for size, colour, label in OPENML_ROWS)
)


def _feature(index: int, name: str, data_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "index": str(index),
        "name": name,
        "data_type": data_type,
        "is_target": "true" if name == "class" else "false",
        "is_ignore": "false",
        "is_row_identifier": "false",
        "number_of_missing_values": "0",
        **extra,
    }


def write_openml_cache(cache: Path) -> None:
    """What `fetch_openml(data_home=...)` stores after a download, for one small dataset.

    scikit-learn caches each OpenML URL gzipped at `<cache>/openml.org/<url path>.gz`.
    """

    def put(url_path: str, content: bytes) -> None:
        path = cache / "openml.org" / f"{url_path}.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(content))

    file_path = f"data/v1/download/{OPENML_ID + 1}/{OPENML_NAME}.arff"
    description = {
        "id": str(OPENML_ID),
        "name": OPENML_NAME,
        "version": "1",
        "description": "A fixture.",
        "format": "ARFF",
        "file_id": str(OPENML_ID + 1),
        "default_target_attribute": "class",
        "url": f"https://api.openml.org/{file_path}",
        "md5_checksum": hashlib.md5(OPENML_ARFF.encode()).hexdigest(),
        "status": "active",
    }
    features = [
        _feature(0, "size", "numeric"),
        _feature(1, "colour", "nominal", nominal_value=["red", "blue", "green"]),
        _feature(2, "class", "nominal", nominal_value=["no", "yes"]),
    ]
    qualities = [{"name": "NumberOfInstances", "value": f"{len(OPENML_ROWS)}.0"}]
    listing = [{"did": OPENML_ID, "name": OPENML_NAME, "version": 1, "status": "active"}]
    put(f"api/v1/json/data/{OPENML_ID}", json.dumps({"data_set_description": description}).encode())
    put(
        f"api/v1/json/data/features/{OPENML_ID}",
        json.dumps({"data_features": {"feature": features}}).encode(),
    )
    put(
        f"api/v1/json/data/qualities/{OPENML_ID}",
        json.dumps({"data_qualities": {"quality": qualities}}).encode(),
    )
    put(
        f"api/v1/json/data/list/data_name/{OPENML_NAME}/limit/2/status/active/",
        json.dumps({"data": {"dataset": listing}}).encode(),
    )
    put(file_path, OPENML_ARFF.encode())


@pytest.fixture
def offline(monkeypatch) -> None:
    """No host name resolves, as on a machine without internet."""

    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "no network in tests")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)


def assert_openml_frame(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == ["size", "colour", "class"]  # the target stays in the frame
    assert frame["size"].tolist() == [size for size, _, _ in OPENML_ROWS]
    assert frame["colour"].astype(str).tolist() == [colour for _, colour, _ in OPENML_ROWS]
    assert frame["class"].astype(str).tolist() == [label for _, _, label in OPENML_ROWS]


@pytest.mark.usefixtures("offline")
def test_openml_by_data_id_from_cache(tmp_path):
    write_openml_cache(tmp_path / "data/external/openml")
    frame = read(tmp_path, {"kind": "openml", "data_id": OPENML_ID}, target="class")
    assert_openml_frame(frame)


@pytest.mark.usefixtures("offline")
def test_openml_by_name_from_cache(tmp_path):
    write_openml_cache(tmp_path / "data/external/openml")
    frame = read(tmp_path, {"kind": "openml", "name": OPENML_NAME}, target="class")
    assert_openml_frame(frame)


def test_openml_needs_data_id_or_name(tmp_path):
    with pytest.raises(CardError, match="data_id or name"):
        read(tmp_path, {"kind": "openml", "version": 1}, target="class")


@pytest.mark.usefixtures("offline")
@pytest.mark.filterwarnings("ignore:A network error occurred:UserWarning")
def test_openml_uncached_offline_fails_fast(tmp_path):
    start = time.perf_counter()
    with pytest.raises(DataError) as error:
        read(tmp_path, {"kind": "openml", "data_id": 61, "retries": 1}, target="class")
    assert time.perf_counter() - start < 5
    [problem] = error.value.problems
    assert problem.rule == "download_failed"
    assert "61" in problem.message and "internet" in problem.message


# --- kind: sklearn, unknown kinds ------------------------------------------------------


def test_sklearn_breast_cancer_with_target_renamed(tmp_path):
    frame = read(tmp_path, {"kind": "sklearn", "name": "breast_cancer"}, target="diagnosis")
    assert frame.shape == (569, 31)
    assert "target" not in frame.columns
    assert set(frame["diagnosis"]) == {0, 1}


def test_sklearn_unknown_name(tmp_path):
    with pytest.raises(CardError, match="iris") as error:
        read(tmp_path, {"kind": "sklearn", "name": "iris"})
    assert all(name in str(error.value) for name in ("breast_cancer", "wine", "diabetes"))


def test_unknown_kind(tmp_path):
    with pytest.raises(CardError, match="'s3'") as error:
        read(tmp_path, {"kind": "s3", "path": "bucket/t.csv"})
    assert all(kind in str(error.value) for kind in ("sklearn", "file", "url", "openml"))


def test_a_folder_of_batches_is_read_in_name_order_and_recorded(tmp_path):
    folder = tmp_path / "batches"
    folder.mkdir()
    (folder / "2026-02.csv").write_text("x,colour,y\n9.5,green,1\n")
    (folder / "2026-01.csv").write_text(CSV_TEXT)
    (folder / ".DS_Store").write_text("ignored")
    frame = read_file(tmp_path, "batches")
    assert list(frame["x"]) == [1.5, 2.5, 9.5]
    assert frame.attrs["batches"] == [
        {"file": "batches/2026-01.csv", "rows": 2},
        {"file": "batches/2026-02.csv", "rows": 1},
    ]
    # A glob and an explicit list name the same batches.
    assert read_file(tmp_path, "batches/*.csv").attrs["batches"] == frame.attrs["batches"]
    listed = read_file(tmp_path, ["batches/2026-01.csv", "batches/2026-02.csv"])
    assert listed.equals(frame)


def test_a_batch_with_other_columns_is_named(tmp_path):
    folder = tmp_path / "batches"
    folder.mkdir()
    (folder / "a.csv").write_text(CSV_TEXT)
    (folder / "b.csv").write_text("x,color,y\n1,red,0\n")
    with pytest.raises(DataError) as error:
        read_file(tmp_path, "batches")
    problem = single_problem(error, "batch_columns", folder / "b.csv")
    assert "missing ['colour'], unexpected ['color']" in problem.message


def test_an_empty_batch_folder_is_an_error(tmp_path):
    (tmp_path / "batches").mkdir()
    with pytest.raises(DataError) as error:
        read_file(tmp_path, "batches")
    single_problem(error, "file_missing", tmp_path / "batches")


def test_the_ingest_stage_names_the_card_for_a_card_mistake(tmp_path):
    """A card mistake is reported by the card's name, without a traceback: the stage catches
    CardError alone, so a check that raised a plain ValueError would show one."""
    conf = compose_conf(PROJECT_ROOT / "conf")
    source = {"kind": "s3", "path": "bucket/t.csv"}
    conf["data"] = {**conf["data"], "name": "shop", "source": source, "target": "y"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(conf, sort_keys=False))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    result = subprocess.run(
        [sys.executable, "-m", "bakeoff.stages.ingest"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "dataset card 'shop' (conf/data/): data.source.kind='s3'" in result.stderr
    assert "Traceback" not in result.stderr
