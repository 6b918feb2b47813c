"""Columns that load without error but are probably not what the user meant: warnings that
name the column, what was seen and what the pipeline did about it (validate records them in
the data card, the report shows them).

- a classification target with many distinct numbers (a quantity, not classes);
- a categorical column whose values are mostly numbers (a few typos or markers such as
  'oops' turned a numeric column into one category per value);
- a text column with a different value on every row (an identifier);
- a categorical column with very many rare categories.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bakeoff.problems import Problem

# A numeric classification target with more distinct values than this looks like a quantity
# (ingest infers classification only up to this many integer values).
MAX_CLASSES = 20
# A categorical column is "mostly numeric" when at least this share of its values parse as
# numbers (all of them would have made it numeric).
MOSTLY_NUMERIC_SHARE = 0.5
# An identifier: a different value on every row, in a table with at least this many rows
# (in a tiny table every column looks like that).
ID_MIN_ROWS = 20
# Many categories: more levels than this, with fewer rows than RARE_ROWS per level (median).
MANY_LEVELS = 50
RARE_ROWS = 10
EXAMPLES = 5


def classification_target_looks_continuous(y: pd.Series, file: str) -> list[Problem]:
    """A numeric target declared (or inferred) as classes, with many distinct values."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return []
    values = y.dropna()
    levels = values.nunique()
    if levels <= MAX_CLASSES:
        return []
    integral = bool((values == values.round()).all())
    return [
        Problem(
            "target_looks_continuous",
            f"task is classification, but the target has {levels} distinct "
            f"{'integer' if integral else 'non-integer'} values ({levels / len(values):.0%} of "
            f"its {len(values)} rows): each value is a class of its own. If it is a quantity, "
            "set data.task: regression",
            severity="warning",
            file=file,
            column=str(y.name),
            examples=sorted(values.unique())[:EXAMPLES],
            action="trained as classification",
        )
    ]


def mostly_numeric(column: pd.Series, name: str, file: str) -> list[Problem]:
    """A categorical column whose values are mostly numbers."""
    values = column.dropna()
    if values.empty:
        return []
    numbers = pd.to_numeric(values, errors="coerce")
    share = float(numbers.notna().mean())
    if share < MOSTLY_NUMERIC_SHARE or share == 1.0:
        return []
    bad = values[numbers.isna()]
    shown = sorted(bad.astype(str).unique())[:EXAMPLES]
    return [
        Problem(
            "mostly_numeric",
            f"{share:.0%} of its {len(values)} values are numbers, {1 - share:.1%} are not "
            f"(e.g. {shown}), so it was read as categorical with {values.nunique()} "
            "categories, one per distinct number. If it is numeric, name the non-numbers as "
            f"missing (data.source.na_values: {shown}) or set data.column_types.{name}: "
            "numeric (each non-number is then an error, with its row)",
            severity="warning",
            file=file,
            column=name,
            examples=[{"row": int(i), "value": v} for i, v in bad.head(EXAMPLES).items()],
            action="kept as categorical",
        )
    ]


def id_like(column: pd.Series, name: str, file: str) -> list[Problem]:
    """Text with a different value on every row: an identifier, not a feature."""
    values = column.dropna()
    if len(column) < ID_MIN_ROWS or len(values) < len(column) or values.nunique() < len(values):
        return []
    return [
        Problem(
            "id_like_column",
            f"every one of its {len(values)} rows has a value of its own: probably an "
            "identifier, which no model can learn from (and which one-hot encoding turns into "
            "a column per row). Add it to data.drop_columns, or to data.key if it identifies "
            "rows across batches",
            severity="warning",
            file=file,
            column=name,
            examples=list(values.head(EXAMPLES)),
            action="kept as a feature",
        )
    ]


def many_categories(column: pd.Series, name: str, file: str) -> list[Problem]:
    """Very many categories with few rows each: one-hot encoding makes a column per level."""
    counts = column.value_counts()
    if len(counts) <= MANY_LEVELS or counts.median() >= RARE_ROWS:
        return []
    return [
        Problem(
            "many_categories",
            f"{len(counts)} categories with a median of {counts.median():g} row(s) each. "
            f"Encoding: linear, kNN and SVM models one-hot encode it ({len(counts)} columns), "
            "tree ensembles use one ordinal code, networks learn an embedding per category; "
            "categories this rare teach little. Consider grouping the rare ones, or dropping "
            "the column (data.drop_columns)",
            severity="warning",
            file=file,
            column=name,
            examples=[{"value": k, "rows": int(v)} for k, v in counts.head(EXAMPLES).items()],
            action="kept; one-hot / ordinal / embedding as above",
        )
    ]


def suspicious_columns(
    frame: pd.DataFrame, card: dict[str, Any], key: list[str], file: str
) -> list[Problem]:
    """Every warning above for the typed table (the row key's columns are exempt: they are
    meant to identify rows and no model sees them)."""
    problems = []
    if card["task"] == "classification" and card["target"] in frame.columns:
        problems += classification_target_looks_continuous(frame[card["target"]], file)
    for name, kind in card["features"].items():
        if kind != "categorical" or name in key or name not in frame.columns:
            continue
        column = frame[name]
        found = mostly_numeric(column, name, file) or id_like(column, name, file)
        problems += found or many_categories(column, name, file)
    return problems
