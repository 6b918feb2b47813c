"""Drift: the newest batch against the training rows it joins, on tiny generated tables."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from bakeoff.data import drift
from bakeoff.fileio import write_json, write_parquet
from bakeoff.params import DriftConfig
from bakeoff.paths import DATA_CARD, DRIFT_REPORT, DRIFT_SUMMARY, RAW_DATASET, split_path
from bakeoff.problems import CardError
from bakeoff.reporting.drift import drift_markdown
from bakeoff.stages import drift as drift_stage
from conftest import PROJECT_ROOT, reviews

CONFIG = DriftConfig()
CARD = {
    "dataset": "t",
    "target": "y",
    "task": "regression",
    "features": {"x1": "numeric", "colour": "categorical", "flag": "boolean", "note": "text"},
}


def batch_frame(n: int, seed: int, shift: float = 0.0, colours=("red", "green", "blue")):
    """n rows: a normal number (moved by `shift`), a colour, a boolean, a text, a target."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x1": rng.normal(loc=shift, size=n),
            "colour": pd.Series(rng.choice(colours, size=n), dtype="str"),
            "flag": rng.random(n) < 0.3,
            "note": pd.Series([f"note {i}" for i in range(n)], dtype="str"),
            "y": rng.normal(size=n),
        }
    )


def batches(*frames: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """The raw table (batches stacked in order) and its card's batch list."""
    raw = pd.concat(frames, ignore_index=True)
    listed = [
        {"file": f"data/external/t/b{i + 1}.csv", "rows": len(f)} for i, f in enumerate(frames)
    ]
    return raw, listed


def test_same_distribution_numeric_is_not_flagged():
    rng = np.random.default_rng(0)
    a, b = pd.Series(rng.normal(size=1000)), pd.Series(rng.normal(size=1000))
    column = drift.column_drift(a, b, "numeric", CONFIG)
    assert column["psi"] < 0.1 and column["ks_pvalue"] > 0.01
    assert not column["flagged"] and column["reasons"] == []


def test_shifted_numeric_is_flagged():
    rng = np.random.default_rng(1)
    a, b = pd.Series(rng.normal(size=1000)), pd.Series(rng.normal(loc=1.0, size=1000))
    column = drift.column_drift(a, b, "numeric", CONFIG)
    assert column["psi"] > CONFIG.psi and column["ks_pvalue"] < 1e-10
    assert column["flagged"] and column["reasons"][0].startswith("PSI ")
    assert column["mean_batch"] - column["mean_reference"] == pytest.approx(1.0, abs=0.15)


def test_boolean_with_a_rare_value_still_drifts():
    """Quantile bins of a 97% True column would be one bin; one bin per value sees the flip."""
    a = pd.Series(np.arange(1000) % 33 != 0)
    b = pd.Series(np.arange(1000) % 2 == 0)
    column = drift.column_drift(a, b, "boolean", CONFIG)
    assert column["psi"] > CONFIG.psi and column["flagged"]


def test_new_category_is_flagged_as_unseen():
    rng = np.random.default_rng(2)
    a = pd.Series(rng.choice(["red", "green", "blue"], size=1000), dtype="str")
    b = pd.Series(rng.choice(["red", "green", "blue"], size=1000), dtype="str")
    b[rng.random(1000) < 0.2] = "purple"
    column = drift.column_drift(a, b, "categorical", CONFIG)
    assert column["unseen_share"] == pytest.approx(0.2, abs=0.03)
    assert column["unseen_examples"][0]["value"] == "purple"
    assert column["unseen_examples"][0]["count"] == int((b == "purple").sum())
    assert column["flagged"] and any("unseen categories" in r for r in column["reasons"])


def test_chi2_sees_a_changed_category_mix_and_not_an_equal_one():
    rng = np.random.default_rng(3)
    a = pd.Series(rng.choice(["red", "green"], p=[0.5, 0.5], size=800), dtype="str")
    same = pd.Series(rng.choice(["red", "green"], p=[0.5, 0.5], size=800), dtype="str")
    moved = pd.Series(rng.choice(["red", "green"], p=[0.7, 0.3], size=800), dtype="str")
    assert drift.categorical_drift(a, moved)["chi2_pvalue"] < 1e-6
    assert drift.categorical_drift(a, same)["chi2_pvalue"] > 0.01
    one = pd.Series(["red"] * 10, dtype="str")
    assert drift.categorical_drift(one, one)["chi2_pvalue"] == 1.0


def test_missing_change_is_flagged_for_any_kind():
    a = pd.Series([f"t {i}" for i in range(100)], dtype="str")
    b = a.mask(np.arange(100) % 10 < 3)  # 30% missing
    column = drift.column_drift(a, b, "text", CONFIG)
    assert column["missing_change"] == pytest.approx(0.3)
    assert column["flagged"] and column["reasons"] == ["missing share 0.0% -> 30.0%"]
    assert column["psi"] == 0.0  # every present document has two words, as before


def test_text_of_the_same_kind_is_not_flagged():
    frame, _ = reviews(1200, seed=4)
    column = drift.column_drift(frame["review"][:800], frame["review"][800:], "text", CONFIG)
    assert column["psi"] < 0.1 and column["unseen_share"] < 0.01
    assert not column["flagged"], column["reasons"]


def test_longer_documents_drift_by_length():
    frame, _ = reviews(1200, seed=5)
    longer = frame["review"][800:] + " " + frame["review"][800:]
    column = drift.column_drift(frame["review"][:800], longer, "text", CONFIG)
    assert column["psi"] > CONFIG.psi and column["ks_pvalue"] < 1e-10
    assert column["mean_batch"] > 1.8 * column["mean_reference"]  # words per document
    assert column["flagged"] and column["reasons"][0].startswith("PSI ")


def test_new_words_drift_beyond_what_held_out_training_text_brings():
    rng = np.random.default_rng(6)
    words = [f"w{i}" for i in range(400)]
    # Zipf-like text: held-out training documents bring some unseen words too.
    p = 1 / np.arange(1, 401)
    docs = [" ".join(rng.choice(words, size=8, p=p / p.sum())) for _ in range(1000)]
    reference, same = pd.Series(docs[:700]), pd.Series(docs[700:])
    usual = drift.column_drift(reference, same, "text", CONFIG)
    assert usual["unseen_reference"] > 0 and not usual["flagged"], usual["reasons"]
    slang = same.str.replace("w1 ", "yeet ", regex=False) + " bussin"
    column = drift.column_drift(reference, slang, "text", CONFIG)
    assert column["unseen_share"] > column["unseen_reference"] + CONFIG.unseen_share
    assert column["unseen_examples"][0] == {"value": "bussin", "count": 300}
    assert column["flagged"] and any("unseen words vs" in r for r in column["reasons"])


def test_reference_excludes_the_newest_batch():
    raw, listed = batches(batch_frame(600, 0), batch_frame(400, 1))
    # Training rows: 500 from the first batch, 300 from the newest.
    train = pd.concat([raw.iloc[:500], raw.iloc[600:900]]).sample(frac=1, random_state=0)
    report = drift.drift_report(raw, train, card=CARD, batches=listed, config=CONFIG)
    assert report["status"] == "compared" and report["batches"] == 2
    assert report["reference_rows"] == 500 and report["batch_rows"] == 400
    assert report["batch"] == "data/external/t/b2.csv"
    assert report["flagged"] == [] and set(report["columns"]) == {"x1", "colour", "flag", "note"}
    keyed = drift.drift_report(raw, train, card=CARD, batches=listed, config=CONFIG, key=["note"])
    assert keyed["reference_rows"] == 100  # notes repeat per batch: "note 0".."note 399" go
    with pytest.raises(CardError, match=r"data.key \['order_id'\]: columns \['order_id'\]"):
        drift.drift_report(raw, train, card=CARD, batches=listed, config=CONFIG, key=["order_id"])


def test_report_flags_drifted_columns_and_is_json():
    moved = batch_frame(500, 1, shift=1.0, colours=("red", "green", "purple"))
    moved.loc[:149, "note"] = None
    raw, listed = batches(batch_frame(1000, 0), moved)
    report = drift.drift_report(raw, raw.iloc[:800], card=CARD, batches=listed, config=CONFIG)
    assert report["flagged"] == ["x1", "colour", "note"] and report["flagged_columns"] == 3
    assert "y" not in report["columns"]
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    summary = drift_markdown(report)
    assert "(500 rows) against 800 training rows: 3 of 4 columns drifted: x1, colour, note." in (
        summary
    )
    table = [line for line in summary.splitlines() if line.startswith("| ")][1:]
    names = [line.split("|")[1].strip() for line in table]
    assert names == ["**x1**", "**colour**", "**note**", "flag"]  # flagged rows first, bold


def test_single_batch():
    raw, listed = batches(batch_frame(300, 0))
    report = drift.drift_report(raw, raw.iloc[:200], card=CARD, batches=listed, config=CONFIG)
    assert report["status"] == "single_batch" and report["columns"] == {}
    assert report["flagged"] == [] and report["flagged_columns"] == 0
    assert "no training rows from earlier batches" in drift_markdown(report)
    json.dumps(report, allow_nan=False)


def stage(tmp_path, monkeypatch, action: str, shift: float):
    """A folder with params.yaml and the files the stage reads; returns the stage's run."""
    base = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    base["data"] = {"name": "t", "source": {"kind": "file", "path": "t.csv"}, "target": "y"}
    base["drift"] = {"action": action}
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(base))
    raw, listed = batches(batch_frame(600, 0), batch_frame(400, 1, shift=shift))
    write_parquet(RAW_DATASET, raw)
    write_json(DATA_CARD, {**CARD, "batches": listed})  # validate keeps ingest's batches
    write_parquet(split_path("train"), pd.concat([raw.iloc[:480], raw.iloc[600:920]]))
    return drift_stage.main


def test_stage_stops_on_drift_after_writing_the_reports(tmp_path, monkeypatch, caplog):
    main = stage(tmp_path, monkeypatch, "stop", shift=1.5)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    report = json.loads(DRIFT_REPORT.read_text())
    assert report["flagged"] == ["x1"] and report["reference_rows"] == 480
    assert "x1" in DRIFT_SUMMARY.read_text()
    assert "halts before training" in caplog.text and "drift.action=warn" in caplog.text


def test_stage_warns_and_goes_on(tmp_path, monkeypatch, caplog):
    stage(tmp_path, monkeypatch, "warn", shift=1.5)()
    assert json.loads(DRIFT_REPORT.read_text())["flagged"] == ["x1"]
    assert "drift in the newest batch" in caplog.text and "halts" not in caplog.text


def test_stage_rejects_an_unknown_action_before_writing_anything(tmp_path, monkeypatch):
    main = stage(tmp_path, monkeypatch, "ignore", shift=0.0)
    with pytest.raises(ValueError, match=r"drift\.action must be one of \('warn', 'stop'\)"):
        main()
    assert not DRIFT_REPORT.exists() and not DRIFT_SUMMARY.exists()
