"""How numbers read in bakeoff's tables, and the terminal's short leaderboard."""

from bakeoff.reporting import formatting as fmt
from bakeoff.reporting.leaderboard import TERMINAL_WIDTH, terminal_summary


def test_scores_keep_four_significant_digits_and_times_carry_their_unit():
    assert fmt.score(0.964912) == "0.9649"
    assert fmt.score(0.0923456) == "0.09235"
    assert fmt.score(12.3456) == "12.35"
    assert fmt.plus_minus(0.964912, 0.0123456) == "0.9649 ± 0.012"
    assert fmt.signed(-0.00041234) == "-0.0004" and fmt.signed(0.0123456) == "+0.01235"
    assert fmt.seconds(0.0123) == "12.3 ms"
    assert fmt.seconds(1.23456) == "1.23 s"
    assert fmt.seconds(153.2) == "153 s"
    assert fmt.seconds(1830) == "30 min"
    assert fmt.milliseconds(0.456) == "0.456 ms" and fmt.milliseconds(3250) == "3.25 s"
    assert fmt.megabytes(1530.2) == "1,530 MB" and fmt.megabytes(0.4234) == "0.423 MB"
    assert fmt.count(75234) == "75,234" and fmt.p_value(0.000123) == "0.00012"
    assert fmt.score(None) == "" and fmt.seconds(float("nan")) == ""


def test_markdown_table_aligns_as_asked_and_refuses_a_wrong_alignment():
    table = fmt.markdown_table(["model", "score"], [["logreg", "0.9649"], ["mlp", "0.95"]])
    lines = table.splitlines()
    assert lines[0].startswith("| model") and lines[1].replace(" ", "").startswith("|:---")
    assert lines[1].rstrip().endswith(":|")  # the score column is right-aligned
    assert lines[2].startswith("| logreg ") and lines[2].endswith("0.9649 |")
    try:
        fmt.markdown_table(["a", "b"], [["1", "2"]], align="l")
    except ValueError as exc:
        assert "1 letters for 2 columns" in str(exc)
    else:
        raise AssertionError("a one-letter alignment for two columns must be refused")


def board(names: list[str]) -> dict:
    models = {
        name: {
            "rank": i + 1,
            "family": "deep" if "transformer" in name else "classical",
            "accuracy": 0.95 - i / 100,
            "fit_seconds": 12.5 * (i + 1),
            "latency_p95_ms": 3.25 * (i + 1),
            "cv": {"accuracy": {"mean": 0.951 - i / 100, "low": 0.93, "high": 0.97}},
        }
        for i, name in enumerate(names)
    }
    return {
        "metric": "accuracy",
        "best_model": names[0],
        "models": models,
        "failed": {"broken_model": {"error": "boom", "run_id": "r"}},
        "verdict": {
            "sentence": "No significant difference at this data size (569 rows): "
            + "a long sentence that keeps going " * 8
        },
    }


def test_the_terminal_summary_has_six_columns_fits_100_columns_and_names_the_report():
    names = ["logreg", "a_rather_long_model_name_for_a_contestant", "ft_transformer_big"]
    text = terminal_summary(board(names), "reports/breast_cancer/report.html")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= TERMINAL_WIDTH, text
    table = [line for line in lines if line.startswith("|")]
    assert table[0].replace(" ", "") == "|rank|model|family|accuracy|fit|p95latency|"
    assert "0.951 ± 0.02" in table[2] and "12.5 s" in table[2] and "3.25 ms" in table[2]
    assert lines[-1] == "Report: reports/breast_cancer/report.html"
    assert "Failed to train: broken_model" in text
    assert "Guarded" not in text
    guarded = board(names)
    guarded["models"]["logreg"]["cost"] = {"guard": "RBF kernel approximated " * 8}
    text = terminal_summary(guarded, "reports/breast_cancer/report.html")
    assert "Guarded: logreg RBF kernel approximated" in text
    assert max(len(line) for line in text.splitlines()) <= TERMINAL_WIDTH
    assert lines[0].startswith("No significant difference at this data size")
