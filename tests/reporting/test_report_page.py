"""The HTML report from small made-up records: every section renders from the Jinja2
template, numbers at a readable precision, text escaped, nothing fetched."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from bakeoff.reporting.html import drift_context, ngrams_context, promotion_context, render
from bakeoff.reporting.summary import summary_markdown

SECTIONS = ("Verdict", "Leaderboard", "Learning curves", "Cost ledger", "Importance")
SECTIONS += ("Quality vs cost", "Registry", "Drift", "Data", "Reproduce")

PROMOTION = {
    "challenger_model": "logreg",
    "registered_model": "ds",
    "challenger_version": "2",
    "decision": "kept champion",
    "champion_before": "1",
    "champion_after": "1",
    "reasons": ["improvement -0.0100 is not above promote.margin 0.0"],
    "metric": "accuracy",
    "challenger_score": 0.9,
    "champion_score": 0.91,
    "improvement": -0.01,
    "interval": [-0.03, 0.01],
    "confidence": 0.9,
    "margin": 0.0,
    "test_rows": 200,
}
COLUMN = {"kind": "numeric", "psi": 0.5, "flagged": True, "reasons": ["PSI 0.5 >= 0.2"]}
DRIFT = {
    "status": "compared",
    "flagged": ["x1"],
    "columns": {"x1": COLUMN, "x2": {**COLUMN, "flagged": False, "reasons": []}},
    "batch": "data/external/b/3.csv",
    "batch_rows": 10,
    "reference_rows": 50,
    "action": "warn",
}


def row(rank: int, family: str, accuracy: float, **cost) -> dict:
    return {
        "rank": rank,
        "family": family,
        "accuracy": accuracy,
        "balanced_accuracy": accuracy,
        "f1": accuracy,
        "roc_auc": 0.99,
        "log_loss": 0.123456,
        "fit_seconds": 1.23456,
        "latency_p50_ms": 2.5,
        "latency_p95_ms": 3.25,
        "test_rows": 115,
        "tuning": "defaults",
        "cv": {"accuracy": {"mean": accuracy - 0.001, "low": accuracy - 0.03, "high": 0.999}},
        "cost": {"fit_seconds": 1.23456, "hardware": {"cpu": "x86", "cpu_cores": 2}, **cost},
    }


BOARD = {
    "task": "classification",
    "metric": "accuracy",
    "best_model": "logreg",
    "best_classical": "logreg",
    "best_deep": "mlp",
    "ranked_by": "resampled mean",
    "confidence": 0.95,
    "resampling": {"method": "cv", "folds": 5, "repeats": 1},
    "models": {
        "logreg": row(1, "classical", 0.9736842, parameters=31),
        "mlp": row(2, "deep", 0.96491228, parameters=75_234, peak_memory_mb=1530.2),
        "tabm": row(3, "deep", 0.95, parameters=812_345, k=16, guard="stopped by <its> budget"),
    },
    "failed": {"<svm>": {"error": "ValueError: C <= 0", "run_id": "r1"}},
    "verdict": {
        "classical": "logreg",
        "deep": "mlp",
        "metric": "accuracy",
        "delta": 0.0087719,
        "low": -0.0325,
        "high": 0.0326,
        "p_value": 0.512345,
        "resamples": 5,
        "confidence": 0.95,
        "method_text": "Corrected resampled t-test (Nadeau & Bengio 2003).",
        "sentence": "No significant difference at this data size (569 rows): logreg vs mlp.",
    },
    "recommendation": {"model": "logreg", "reasons": ["logreg ranks first"]},
    "pareto_front": ["logreg"],
    "importance": {
        "metric": "log_loss",
        "classical": {
            "model": "logreg",
            "top": [["worst radius", 0.0412345], ["x", 0.001]],
            "rows": 5000,
        },
        "deep": {"model": "mlp", "top": [["worst radius", 0.05]], "rows": 5000},
        "agreement": {"spearman": 0.6, "p_value": 0.0004, "columns": 30},
        "test_rows": 9769,
    },
}
CARD = {
    "rows": 569,
    "features": {"worst radius": "numeric", "x": "numeric"},
    "target": "target",
    "task": "classification",
    "batches": [{"file": "a.csv", "rows": 569}],
    "content_hash": "0123456789abcdef0123",
    "validation": {"warnings": [{"rule": "duplicate_rows", "message": "3 rows <dup>"}]},
}
CURVE = {
    "metric": "accuracy",
    "repeats": 3,
    "confidence": 0.95,
    "statement": "The curves are within noise of each other.",
    "models": {
        "logreg": {
            "family": "classical",
            "points": [
                {"fraction": 0.5, "train_rows": 228, "mean": 0.95, "low": 0.94, "high": 0.96},
                {"fraction": 1.0, "train_rows": 455, "mean": 0.97, "low": 0.96, "high": 0.98},
            ],
        }
    },
}


@pytest.fixture
def plots(tmp_path: Path) -> dict[str, Path]:
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    path = tmp_path / "plot.png"
    fig.savefig(path)
    plt.close(fig)
    return {"comparison": path, "learning_curve": path, "pareto": path}


def page(plots: dict[str, Path], **changes) -> str:
    records = {
        "dataset": "breast_cancer",
        "board": BOARD,
        "card": CARD,
        "drift": DRIFT,
        "promotion": PROMOTION,
        "curve": CURVE,
        "plots": plots,
        "commit": "abc123",
        "lock_hash": None,
        "params_text": "seed: 42\n",
        "latency_rows": 1000,
    }
    return render(**{**records, **changes})


def test_every_section_renders_with_readable_numbers_and_escaped_text(plots):
    html = page(plots)
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in html, section
    assert "0.9737" in html and "0.97368" not in html  # four significant digits
    assert "0.9727 ± 0.028" in html  # resampled mean ± half-width
    assert "1.23 s" in html and "3.25 ms" in html and "1,530 MB" in html
    assert "p = 0.51" in html and "+0.008772" in html and "75,234 parameters" in html
    assert "812,345 parameters (k = 16 members)" in html  # TabM's members, in the cost ledger
    assert "Guarded: tabm stopped by &lt;its&gt; budget." in html
    assert "Permutation importance on a seeded sample of 5,000 of the 9,769 test rows" in html
    # user-supplied text is escaped, never markup
    assert "&lt;svm&gt; failed to train" in html and "3 rows &lt;dup&gt;" in html
    assert "<svm>" not in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3
    assert 'src="http' not in html and 'href="http' not in html
    assert html.count('<div class="table-wrap">') == html.count("<table>")


def test_the_registry_and_drift_sections(plots):
    promotion = promotion_context(PROMOTION)
    assert promotion["uri"] == "models:/ds/2" and promotion["css"] == "flag"
    assert promotion["table"].rows[0][4] == "90% [-0.03, +0.01]"
    drift = drift_context(DRIFT)
    assert [r[0] for r in drift["table"].rows] == ["x1", "x2"]  # flagged first
    assert drift_context({"status": "single_batch"}) is None
    html = page(plots)
    assert "1 column(s) drifted: x1" in html and "kept champion" in html
    assert "nothing to compare" in page(plots, drift={"status": "single_batch"})


def test_a_run_without_curves_importance_or_paired_test_still_renders(plots):
    board = {**BOARD, "verdict": None, "importance": {}, "failed": {}}
    html = page(plots, board=board, curve={"models": {}})
    assert "No paired test" in html and "No learning curves" in html
    assert "No importances recorded" in html


def test_importance_says_which_rows_each_family_best_shuffled_and_why_one_has_none(plots):
    found = BOARD["importance"]
    fewer = {**found, "deep": {**found["deep"], "rows": 120}}
    html = page(plots, board={**BOARD, "importance": fewer})
    assert "on seeded samples of 5,000 (logreg) and 120 (mlp) of the 9,769 test rows" in html
    skipped = {key: value for key, value in found.items() if key not in ("deep", "agreement")} | {
        "skipped": {"mlp": "not computed: <slow>"}
    }
    html = page(plots, board={**BOARD, "importance": skipped})
    assert "a seeded sample of 5,000 of the 9,769 test rows" in html
    assert '<p class="flag">Importance of mlp: not computed: &lt;slow&gt;.</p>' in html
    only = {"skipped": {"mlp": "not computed: slow"}}
    html = page(plots, board={**BOARD, "importance": only})
    assert "Importance of mlp: not computed: slow." in html
    assert "No importances recorded" not in html


def test_learning_curve_points_with_budget_stopped_fits_are_flagged(plots):
    assert "Fits stopped by the time budget" not in page(plots)
    logreg = CURVE["models"]["logreg"]
    points = [logreg["points"][0], {**logreg["points"][1], "guarded_fits": 2, "scores": [1] * 3}]
    curve = {**CURVE, "models": {"logreg": {**logreg, "points": points}}}
    html = page(plots, curve=curve)
    assert "before their own stopping rule: logreg at 455 rows (2 of 3)." in html


def test_the_top_ngrams_of_each_tfidf_model_render_side_by_side(plots):
    ngrams = {
        "tfidf_logreg": [
            {
                "column": "review",
                "top": {"fresh": [["moving", 2.5], ["a <b>", 1.25]], "rotten": [["dull", 3.0]]},
            }
        ]
    }
    board = {**BOARD, "importance": {**BOARD["importance"], "top_ngrams": ngrams}}
    html = page(plots, board=board)
    assert "Top n-grams: tfidf_logreg, column review" in html
    assert "towards fresh" in html and "towards rotten" in html
    assert "a &lt;b&gt;" in html and "a <b>" not in html
    (table,) = ngrams_context(board)
    assert table["table"].rows == [["moving", "2.50", "dull", "3.00"], ["a <b>", "1.25", "", ""]]
    assert "Top n-grams" not in page(plots)


def test_the_summary_names_the_top_ngrams():
    ngrams = {"tfidf_svm": [{"column": "review", "top": {"1": [["good", 1.0]], "0": []}}]}
    board = {**BOARD, "importance": {**BOARD["importance"], "top_ngrams": ngrams}}
    text = summary_markdown("reviews", board, CURVE, "abc123")
    assert "- Top n-grams, tfidf_svm (review): towards 1: good; towards 0: " in text
    assert "Top n-grams" not in summary_markdown("reviews", BOARD, CURVE, "abc123")
