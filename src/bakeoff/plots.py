"""Figures for evaluation and comparison (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay


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


def comparison_plot(rows: list[dict], metric: str, path: Path) -> None:
    """Horizontal bars of the ranking metric, coloured by family."""
    colours = {"classical": "#4C72B0", "deep": "#DD8452"}
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(rows) + 1.2))
    names = [r["model"] for r in rows][::-1]
    values = [r[metric] for r in rows][::-1]
    ax.barh(names, values, color=[colours.get(r["family"], "grey") for r in rows][::-1])
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.4f}", va="center", fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    ax.legend(handles, list(colours), loc="lower right", fontsize=8)
    ax.set_xlabel(f"test {metric}")
    ax.set_title("bake-off leaderboard")
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
