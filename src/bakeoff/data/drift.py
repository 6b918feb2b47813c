"""Drift of the newest batch against the training rows it joins: PSI, KS and chi-square
statistics per column, and which columns a threshold flags.

When a dataset grows by batches (several files in its card), the rows of the last file are
compared column by column with the training rows that came before them: PSI and the KS test
for numbers (booleans as 0/1), PSI over the training categories plus an "<unseen>" bucket and
a chi-square test for categories, for text the PSI and KS test of document lengths (words)
and the share of the batch's words the training text never has, against that share for
held-out training text; and the change in the share of missing values for every column. A column is flagged when a configured threshold is reached; `drift.action` says
whether the pipeline then only warns or halts before training.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from bakeoff.data.columns import as_categories, as_numbers
from bakeoff.data.rows import row_keys
from bakeoff.params import DriftConfig
from bakeoff.problems import CardError

log = logging.getLogger(__name__)

EPSILON = 1e-4  # share given to an empty bin, so that the PSI stays finite

EXAMPLES = 5

# Every column has these keys; None where its kind has no such statistic.
NUMERIC_STATISTICS = ("psi", "ks_statistic", "ks_pvalue", "mean_reference", "mean_batch")

CATEGORICAL_STATISTICS = ("chi2_pvalue", "unseen_share")
TEXT_STATISTICS = ("unseen_reference",)
WORD = r"\w+"
# Every HELD_OUT-th training document is held out to measure how many unseen words fresh
# text of the same kind brings (Zipf: always some, more the smaller the training text).
HELD_OUT = 5


def _float(x: Any) -> float | None:
    """A plain float with 6 significant digits for the JSON; None for missing or NaN."""
    if x is None or not math.isfinite(float(x)):
        return None
    return float(f"{float(x):.6g}")


def psi(reference_counts: np.ndarray, batch_counts: np.ndarray) -> float:
    """Population stability index of two count vectors over the same buckets."""
    r = np.clip(reference_counts / reference_counts.sum(), EPSILON, None)
    b = np.clip(batch_counts / batch_counts.sum(), EPSILON, None)
    return float(np.sum((b - r) * np.log(b / r)))


def bin_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner edges of right-closed bins: the reference's quantiles, deduplicated; with no more
    distinct values than bins (booleans, small counts), one bin per value instead."""
    values = np.unique(reference)
    if len(values) <= bins:
        return (values[:-1] + values[1:]) / 2
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def numeric_drift(reference: pd.Series, batch: pd.Series, bins: int) -> dict[str, Any]:
    """PSI over quantile bins of the reference, KS test and means; missing values left out."""
    from scipy import stats  # only when a batch is compared

    r = as_numbers(reference).dropna().to_numpy(dtype=float)
    b = as_numbers(batch).dropna().to_numpy(dtype=float)
    if not len(r) or not len(b):  # nothing to compare: the missing check covers it
        return {}
    edges = bin_edges(r, bins)
    counts = [np.bincount(np.searchsorted(edges, v), minlength=len(edges) + 1) for v in (r, b)]
    ks = stats.ks_2samp(r, b)
    return {
        "psi": _float(psi(*counts)),
        "ks_statistic": _float(ks.statistic),
        "ks_pvalue": _float(ks.pvalue),
        "mean_reference": _float(r.mean()),
        "mean_batch": _float(b.mean()),
    }


def categorical_drift(reference: pd.Series, batch: pd.Series) -> dict[str, Any]:
    """PSI over the reference's categories plus one bucket for unseen ones, chi-square test of
    homogeneity, and the batch's share of values in categories the reference never has."""
    from scipy import stats

    r = as_categories(reference).dropna().value_counts()
    b = as_categories(batch).dropna().value_counts()
    if r.empty or b.empty:  # nothing to compare: the missing check covers it
        return {}
    unseen = b[~b.index.isin(r.index)].sort_values(ascending=False, kind="stable")
    batch_counts = np.append(b.reindex(r.index, fill_value=0).to_numpy(), unseen.sum())
    union = r.index.union(b.index)
    table = np.array([r.reindex(union, fill_value=0), b.reindex(union, fill_value=0)])
    pvalue = 1.0 if len(union) < 2 else stats.chi2_contingency(table).pvalue
    return {
        "psi": _float(psi(np.append(r.to_numpy(), 0), batch_counts)),
        "chi2_pvalue": _float(pvalue),
        "unseen_share": _float(unseen.sum() / b.sum()),
        "unseen_examples": [
            {"value": str(v), "count": int(n)} for v, n in unseen.head(EXAMPLES).items()
        ],
    }


def _words(column: pd.Series) -> pd.Series:
    """Each present document as its list of lower-cased words."""
    return column.dropna().astype(str).str.lower().str.findall(WORD)


def _unseen(documents: pd.Series, vocabulary: set[str]) -> tuple[float, pd.Series]:
    words = documents.explode().dropna()
    unseen = words[~words.isin(vocabulary)]
    return (len(unseen) / len(words) if len(words) else 0.0), unseen


def text_drift(reference: pd.Series, batch: pd.Series, bins: int) -> dict[str, Any]:
    """Length (words per document) as a number (PSI, KS test, means), and the share of the
    batch's words that no training document has (`unseen_share`), beside the share for
    training documents held out from the vocabulary (`unseen_reference`): new words alone
    are no drift, many more than usual are."""
    r, b = _words(reference), _words(batch)
    if r.empty or b.empty:  # nothing to compare: the missing check covers it
        return {}
    lengths = numeric_drift(r.str.len(), b.str.len(), bins)
    held_out = np.arange(len(r)) % HELD_OUT == 0
    baseline, _ = _unseen(r[held_out], set(r[~held_out].explode().dropna()))
    share, unseen = _unseen(b, set(r.explode().dropna()))
    counts = unseen.value_counts().head(EXAMPLES)
    return {
        **lengths,
        "unseen_share": _float(share),
        "unseen_reference": _float(baseline),
        "unseen_examples": [{"value": str(v), "count": int(n)} for v, n in counts.items()],
    }


def missing_drift(reference: pd.Series, batch: pd.Series) -> dict[str, Any]:
    """Share of missing values in each, and the change (batch - reference)."""
    r = float(reference.isna().mean()) if len(reference) else 0.0
    b = float(batch.isna().mean()) if len(batch) else 0.0
    return {
        "missing_reference": _float(r),
        "missing_batch": _float(b),
        "missing_change": _float(b - r),
    }


def reasons(column: dict[str, Any], config: DriftConfig) -> list[str]:
    """The rules a column's statistics reach, as sentences for the report."""
    out = []
    if column["psi"] is not None and column["psi"] >= config.psi:
        out.append(f"PSI {column['psi']:.2f} >= {config.psi:g}")
    unseen, usual = column["unseen_share"], column.get("unseen_reference")
    if usual is not None and unseen is not None and unseen - usual >= config.unseen_share:
        out.append(
            f"{unseen:.1%} unseen words vs {usual:.1%} in held-out training text "
            f"(+{unseen - usual:.1%} >= {config.unseen_share:.1%})"
        )
    elif usual is None and unseen is not None and unseen >= config.unseen_share:
        out.append(f"{unseen:.1%} unseen categories >= {config.unseen_share:.1%}")
    if abs(column["missing_change"]) >= config.missing_change:
        out.append(
            f"missing share {column['missing_reference']:.1%} -> {column['missing_batch']:.1%}"
        )
    return out


def column_drift(
    reference: pd.Series, batch: pd.Series, kind: str, config: DriftConfig
) -> dict[str, Any]:
    """Every statistic of one column (None where its kind has none), flagged or not, why."""
    column: dict[str, Any] = {
        "kind": kind,
        **dict.fromkeys(NUMERIC_STATISTICS + CATEGORICAL_STATISTICS + TEXT_STATISTICS),
        "unseen_examples": [],
    }
    if kind in ("numeric", "boolean"):
        column.update(numeric_drift(reference, batch, config.bins))
    elif kind == "categorical":
        column.update(categorical_drift(reference, batch))
    elif kind == "text":
        column.update(text_drift(reference, batch, config.bins))
    column.update(missing_drift(reference, batch))
    column["reasons"] = reasons(column, config)
    column["flagged"] = bool(column["reasons"])
    return column


def reference_rows(
    raw: pd.DataFrame, train: pd.DataFrame, batch_rows: int, key: list[str] | None = None
) -> pd.DataFrame:
    """The training rows that do not come from the newest batch (its last `batch_rows` rows of
    `raw`), recognised by the key columns: `key`, or every column the two frames share."""
    columns = list(key or [c for c in train.columns if c in raw.columns])
    absent = [c for c in columns if c not in raw.columns or c not in train.columns]
    if absent or not columns:
        raise CardError(f"data.key {key}: columns {absent} missing from raw or training rows")
    batch_keys = row_keys(raw.iloc[len(raw) - batch_rows :], columns)
    return train[~np.isin(row_keys(train, columns), batch_keys)]


def drift_report(
    raw: pd.DataFrame,
    train: pd.DataFrame,
    *,
    card: dict[str, Any],
    batches: list[dict[str, Any]],
    config: DriftConfig,
    key: list[str] | None = None,
) -> dict[str, Any]:
    """The newest of `batches` (stacked in order in `raw`) against the training rows before
    it; `card` is the validated data card (dataset, target, features and their kinds)."""
    batches = batches or [{"file": card.get("dataset", ""), "rows": len(raw)}]
    n = min(int(batches[-1]["rows"]), len(raw))
    batch = raw.iloc[len(raw) - n :]
    # One batch: every training row comes from it, so there is nothing earlier to hash.
    reference = reference_rows(raw, train, n, key) if len(batches) > 1 else train.iloc[:0]
    # The row key (an ID, a date) identifies rows; new batches bring new values by design.
    features = {
        c: kind
        for c, kind in card.get("features", {}).items()
        if c != card.get("target")
        and c not in (key or [])
        and c in raw.columns
        and c in train.columns
    }
    compared = len(batches) > 1 and len(reference) > 0
    columns = {
        c: column_drift(reference[c], batch[c], kind, config)
        for c, kind in (features.items() if compared else [])
    }
    flagged = [c for c, column in columns.items() if column["flagged"]]
    return {
        "dataset": card.get("dataset"),
        "status": "compared" if compared else "single_batch",
        "batch": str(batches[-1]["file"]),
        "batches": len(batches),
        "reference_rows": len(reference),
        "batch_rows": n,
        "thresholds": {k: getattr(config, k) for k in ("psi", "unseen_share", "missing_change")},
        "action": config.action,
        "flagged_columns": len(flagged),
        "flagged": flagged,
        "columns": columns,
    }
