"""Problems found in the user's data: one record per problem, all reported together.

Readers (ingest) and the validation stage collect `Problem`s instead of raising at the first
one; errors stop the pipeline with every problem listed, warnings are recorded and the
pipeline goes on.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("error", "warning")
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Problem:
    """One rule broken by the data: where (file, column), which rule, and a few examples."""

    rule: str  # short identifier, e.g. "target_missing", "constant_column"
    message: str  # one sentence a user can act on
    severity: str = "error"
    file: str | None = None
    column: str | None = None
    examples: list[Any] = field(default_factory=list)  # example rows or values (a few)
    action: str | None = None  # what the pipeline did about a warning ("dropped", ...)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["examples"] = [_plain(v) for v in self.examples[:MAX_EXAMPLES]]
        return {k: v for k, v in record.items() if v not in (None, [])}

    def line(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"file {self.file}" if self.file else "",
                f"column {self.column!r}" if self.column else "",
            )
            if part
        )
        prefix = f"[{self.rule}] " + (f"{where}: " if where else "")
        return prefix + self.message


def _plain(value: Any) -> Any:
    """JSON-friendly example values (numpy scalars, timestamps, NaN)."""
    if hasattr(value, "item") and callable(value.item):
        with contextlib.suppress(ValueError, TypeError):
            value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]


def summary(problems: list[Problem]) -> str:
    """Short terminal summary: counts, then one line per problem, errors first."""
    errs, warns = errors(problems), warnings(problems)
    lines = [f"{len(errs)} error(s), {len(warns)} warning(s) in the data:"]
    lines += [f"  error   {p.line()}" for p in errs]
    lines += [f"  warning {p.line()}" for p in warns]
    return "\n".join(lines)


class DataError(Exception):
    """Bad input: carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        if not problems:
            raise ValueError("DataError needs at least one problem")
        self.problems = list(problems)
        super().__init__(summary(self.problems))


class CardError(ValueError):
    """The dataset card itself (conf/data/<name>.yaml) is wrong: a setting missing,
    unsupported or contradicting another. The ingest stage reports it by the card's name;
    any other error while reading is not the card's and keeps its traceback."""
