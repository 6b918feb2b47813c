"""Figures for evaluation and comparison (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

from bakeoff.evaluation.metrics import predict_proba_columns


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def confusion_matrix_plot(y_true, y_pred, classes, title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        np.asarray(y_true).astype(str),
        np.asarray(y_pred).astype(str),
        labels=[str(c) for c in classes],
        ax=ax,
        colorbar=False,
    )
    ax.set_title(title)
    _save(fig, path)


def roc_plot(y_true, proba, classes, title: str, path: Path) -> None:
    """ROC curve (binary) or one curve per class against the rest."""
    y_true = np.asarray(y_true).astype(str)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    shown = classes[1:] if len(classes) == 2 else classes
    for label in shown:
        i = list(classes).index(label)
        RocCurveDisplay.from_predictions(y_true == str(label), proba[:, i], name=str(label), ax=ax)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_title(title)
    _save(fig, path)


def residual_plot(y_true, y_pred, title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(y_true, y_pred, s=6, alpha=0.5)
    low, high = float(np.min(y_true)), float(np.max(y_true))
    ax.plot([low, high], [low, high], color="grey", linestyle=":")
    ax.set(xlabel="true", ylabel="predicted", title=title)
    _save(fig, path)


FAMILY_COLOURS = {"classical": "#4C72B0", "deep": "#DD8452"}


def comparison_plot(rows: list[dict], metric: str, path: Path, confidence: float = 0.95) -> None:
    _save(comparison_figure(rows, metric, confidence), path)


def comparison_figure(rows: list[dict], metric: str, confidence: float = 0.95):
    """Horizontal bars of the test score, coloured by family; where a row has resampled
    scores (`cv`), their mean and `confidence` interval as a black point with error bars."""
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(rows) + 1.4))
    rows = rows[::-1]
    names = [r["model"] for r in rows]
    values = [r[metric] for r in rows]
    ax.barh(names, values, color=[FAMILY_COLOURS.get(r["family"], "grey") for r in rows])
    for y, row in enumerate(rows):
        cv = (row.get("cv") or {}).get(metric)
        if cv:
            ax.errorbar(
                cv["mean"],
                y,
                xerr=[[cv["mean"] - cv["low"]], [cv["high"] - cv["mean"]]],
                fmt="o",
                color="black",
                markersize=3,
                capsize=3,
            )
        ax.text(values[y], y + 0.3, f" {values[y]:.4f}", va="center", fontsize=7)
    # Zoom on the scores: bars from zero would hide differences of a few points.
    intervals = [(r.get("cv") or {}).get(metric) for r in rows]
    ends = values + [cv[k] for cv in intervals if cv for k in ("low", "high")]
    span = max(ends) - min(ends) or 1.0
    ax.set_xlim(min(ends) - 0.1 * span, max(ends) + 0.15 * span)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in FAMILY_COLOURS.values()]
    handles.append(plt.Line2D([], [], marker="o", color="black", linestyle="none"))
    ax.legend(
        handles,
        [*FAMILY_COLOURS, f"resampled mean, {confidence:.0%} interval"],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12 - 0.3 / len(rows)),
        ncol=3,
        fontsize=7,
    )
    ax.set_xlabel(f"{metric} (bars: test split)")
    ax.set_title("bake-off leaderboard")
    return fig


def learning_curve_plot(
    curves: dict[str, list[dict]],
    families: dict[str, str],
    metric: str,
    crossovers,
    path: Path,
    confidence: float = 0.95,
) -> None:
    _save(learning_curve_figure(curves, families, metric, crossovers, confidence), path)


def learning_curve_figure(
    curves: dict[str, list[dict]],
    families: dict[str, str],
    metric: str,
    crossovers,
    confidence: float = 0.95,
):
    """Test score against training rows (log scale) per model, its band the repeats'
    `confidence` interval; grey spans only where a crossover is supported (read_trend)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, points in curves.items():
        colour = FAMILY_COLOURS.get(families[name], "grey")
        rows = [p["train_rows"] for p in points]
        ax.plot(rows, [p["mean"] for p in points], marker="o", color=colour, label=name)
        ax.fill_between(
            rows,
            [p["low"] for p in points],
            [p["high"] for p in points],
            color=colour,
            alpha=0.2,
            label=f"{name}: {confidence:.0%} interval",
        )
    for i, crossing in enumerate(crossovers):
        label = "crossover (intervals apart on both sides)" if i == 0 else None
        ax.axvspan(*crossing["between_rows"], color="grey", alpha=0.12, label=label)
    ax.set_xscale("log")
    ax.set(xlabel="training rows", ylabel=f"test {metric}", title="learning curves")
    ax.legend(fontsize=8)
    return fig


def pareto_plot(
    rows: list[dict], label: str, front: list[str], recommended: str | None, path: Path
) -> None:
    """Each row's `quality` against its p95 latency; the Pareto front joined, the pick ringed."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for row in rows:
        x, y = row["latency_p95_ms"], row["quality"]
        ax.scatter(x, y, color=FAMILY_COLOURS.get(row["family"], "grey"), zorder=3)
        ax.annotate(row["model"], (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
        if row["model"] == recommended:
            ax.scatter(x, y, s=220, facecolors="none", edgecolors="green", linewidths=2, zorder=4)
    on_front = sorted((r for r in rows if r["model"] in front), key=lambda r: r["latency_p95_ms"])
    ax.step(
        [r["latency_p95_ms"] for r in on_front],
        [r["quality"] for r in on_front],
        where="post",
        color="grey",
        linestyle=":",
    )
    ax.set_xscale("log")
    ax.set(
        xlabel="p95 latency per batch (ms, log scale)",
        ylabel=label,
        title="quality vs cost (dotted: Pareto front; ringed: recommended)",
    )
    _save(fig, path)


def optimisation_history(trials, values, higher: bool, title: str, path: Path) -> None:
    """A sweep's objective per trial, with the best so far as a step line."""
    order = np.argsort(trials)
    trials, values = np.asarray(trials)[order], np.asarray(values, dtype=float)[order]
    best = np.maximum.accumulate(values) if higher else np.minimum.accumulate(values)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.scatter(trials, values, s=16, color="#4C72B0", label="trial")
    ax.step(trials, best, where="post", color="#DD8452", label="best so far")
    ax.set(xlabel="trial", ylabel="validation score", title=title)
    ax.legend(fontsize=8)
    _save(fig, path)


def model_plots(
    task: str, y_true: pd.Series, predictions: pd.DataFrame, name: str, out: Path
) -> list[Path]:
    if task == "classification":
        proba, classes = predict_proba_columns(predictions)
        paths = [out / "confusion_matrix.png", out / "roc_curve.png"]
        confusion_matrix_plot(y_true, predictions["prediction"], classes, name, paths[0])
        roc_plot(y_true, proba, classes, name, paths[1])
        return paths
    path = out / "predicted_vs_true.png"
    residual_plot(y_true, predictions["prediction"], name, path)
    return [path]
