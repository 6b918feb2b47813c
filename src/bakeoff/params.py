"""The pipeline's parameters, read from params.yaml once and turned into typed objects."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bakeoff.paths import ENSEMBLE

PARAMS_FILE = Path("params.yaml")
TASKS = ("classification", "regression")


SPLIT_METHODS = ("hash", "random")
SPLIT_KEYS = ("batch_row", "content")
DRIFT_ACTIONS = ("warn", "stop")
COLUMN_KINDS = ("numeric", "categorical", "boolean", "datetime", "text")


@dataclass(frozen=True)
class DataConfig:
    """A dataset card (conf/data/<name>.yaml): where the table comes from and what it holds."""

    name: str
    source: dict[str, Any]
    target: str
    task: str | None = None  # inferred at ingest when absent
    drop_columns: list[str] = field(default_factory=list)  # IDs, leaks
    column_types: dict[str, str] = field(default_factory=dict)  # overrides inference
    scale: dict[str, float] = field(default_factory=dict)  # column -> factor (units)
    image: dict[str, Any] | None = None  # {shape: [C, H, W]} for image datasets
    # Columns that identify a row (an ID, or ID + date); empty: the whole row. The hash
    # split and the drift stage recognise rows by it across batches.
    key: list[str] = field(default_factory=list)

    @property
    def source_file(self) -> str:
        """The source as problems name it: its path, URL, or kind (sklearn, digits ...)."""
        return str(self.source.get("path") or self.source.get("url") or self.source.get("kind"))


@dataclass(frozen=True)
class ValidateConfig:
    drop_duplicates: bool = False
    leakage_score: float = 0.99  # one column alone scoring this well is a leak suspect
    imbalance_ratio: float = 0.1  # minority / majority class below this is a warning
    leakage_sample_rows: int = 5000
    max_text_chars: int = 20000  # longer documents in text columns are truncated (warning)


@dataclass(frozen=True)
class SplitConfig:
    test_size: float = 0.2
    val_size: float = 0.2
    stratify: bool = True  # method random, classification only
    # hash: each row's part follows from a hash of its key, so rows keep their part when
    # batches are added; random: a seeded shuffle (stratified), re-drawn when rows change.
    method: str = "hash"
    # hash without data.key: batch_row (batch file + row position in it) or content (the
    # whole row, target included; copies of a row all land in one part)
    key: str = "batch_row"

    def __post_init__(self):
        if not 0 < self.test_size < 1 or not 0 < self.val_size < 1:
            raise ValueError("split.test_size and split.val_size must lie strictly between 0 and 1")
        if self.test_size + self.val_size >= 1:
            raise ValueError("split.test_size + split.val_size must leave rows for training")
        if self.method not in SPLIT_METHODS:
            raise ValueError(f"split.method must be one of {SPLIT_METHODS}, got {self.method!r}")
        if self.key not in SPLIT_KEYS:
            raise ValueError(f"split.key must be one of {SPLIT_KEYS}, got {self.key!r}")

    def stratified(self, task: str | None) -> bool:
        return self.method == "random" and self.stratify and task == "classification"


@dataclass(frozen=True)
class EvaluateConfig:
    latency_rows: int = 1000
    latency_repeats: int = 7


@dataclass(frozen=True)
class DriftConfig:
    """When the newest batch differs from the training rows (docs/retraining.md)."""

    action: str = "warn"  # warn: report and go on; stop: report and halt before training
    psi: float = 0.2  # population stability index at or above this flags a column
    # share of the batch's values in categories training never saw (text: words, above the
    # share for held-out training text)
    unseen_share: float = 0.05
    missing_change: float = 0.05  # change in a column's share of missing values
    bins: int = 10  # numeric columns: quantile bins of the training rows for the PSI

    def __post_init__(self):
        if self.action not in DRIFT_ACTIONS:
            raise ValueError(f"drift.action must be one of {DRIFT_ACTIONS}, got {self.action!r}")


@dataclass(frozen=True)
class PromoteConfig:
    """When this run's best model replaces the registry's champion (docs/retraining.md)."""

    registered_model: str | None = None  # default: the dataset's name
    margin: float = 0.0  # the challenger must beat the champion's test score by more than this
    require_significant: bool = False  # also: the bootstrap interval lies above zero
    confidence: float = 0.95
    bootstrap: int = 1000  # paired resamples of the test rows
    max_latency_ms: float | None = None  # p95 per evaluate.latency_rows rows; None: no limit


@dataclass(frozen=True)
class ResamplingConfig:
    """Refits per contestant for intervals: cv (folds x repeats) or seeds (repeats)."""

    method: str = "cv"  # cv: repeated k-fold on train+validation; seeds: new seeds, same split
    folds: int = 5
    repeats: int = 1

    def __post_init__(self):
        if self.method not in ("cv", "seeds"):
            raise ValueError(f"compare.resampling.method must be cv or seeds, got {self.method!r}")
        if self.method == "cv" and self.folds < 2:
            raise ValueError(f"compare.resampling.folds must be >= 2, got {self.folds}")
        if self.repeats < 1 or (self.method == "seeds" and self.repeats < 2):
            raise ValueError(
                "compare.resampling.repeats must be >= 1 (cv) or >= 2 (seeds: an interval "
                f"needs two fits), got {self.repeats}"
            )


@dataclass(frozen=True)
class LearningCurveConfig:
    fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)  # of the training split, nested
    repeats: int = 3  # nested orders (and model seeds) per fraction

    def __post_init__(self):
        fractions = tuple(float(f) for f in self.fractions)
        if not fractions or any(not 0 < f <= 1 for f in fractions):
            raise ValueError(
                f"compare.learning_curve.fractions must lie in (0, 1], got {fractions}"
            )
        object.__setattr__(self, "fractions", tuple(sorted(set(fractions))))


# The fewest shuffled rows importance is computed on (a rule set here, not a measurement).
MIN_IMPORTANCE_ROWS = 50


@dataclass(frozen=True)
class ImportanceConfig:
    repeats: int = 5  # shuffles per column
    metric: str | None = None  # None: log_loss (classification) or rmse (regression)
    # Test rows shuffled at most: a larger test split gives a seeded sample of this many
    # (each column costs repeats x rows predictions); None: every test row.
    max_rows: int | None = 5000
    # Rows predicted in all (columns x repeats x rows) at most: a wide input (784 pixels)
    # gets a smaller row sample; None: no limit.
    max_predictions: int | None = 500_000
    # Seconds per model at most, estimated from the model's own test prediction: a model
    # that predicts slowly gets fewer rows, as it would a smaller budget; None: no limit.
    max_seconds: float | None = 120

    def __post_init__(self):
        for name in ("max_rows", "max_predictions"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"compare.importance.{name} must be >= 1 or null, got {value}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(
                f"compare.importance.max_seconds must be > 0 or null, got {self.max_seconds}"
            )

    def requested(self, test_rows: int) -> int:
        """The rows to shuffle by max_rows alone: what the work and time limits cut from."""
        return test_rows if self.max_rows is None else min(test_rows, self.max_rows)

    def rows_for(self, test_rows: int, columns: int, seconds_per_row: float | None = None) -> int:
        """How many test rows to shuffle: every one, or fewer by max_rows, max_predictions
        and, given what one row's prediction costs, max_seconds."""
        rows = self.requested(test_rows)
        per_row = max(1, columns * self.repeats)  # predictions per shuffled row
        if self.max_predictions is not None:
            rows = min(rows, max(1, self.max_predictions // per_row))
        if self.max_seconds is not None and seconds_per_row:
            rows = min(rows, max(1, int(self.max_seconds / (seconds_per_row * per_row))))
        return rows


@dataclass(frozen=True)
class CompareConfig:
    """The verdict (docs/verdict.md): intervals, learning curves, importance, constraints."""

    resampling: ResamplingConfig = field(default_factory=ResamplingConfig)
    confidence: float = 0.95
    learning_curve: LearningCurveConfig = field(default_factory=LearningCurveConfig)
    importance: ImportanceConfig = field(default_factory=ImportanceConfig)
    max_latency_ms: float | None = None  # p95 per evaluate.latency_rows rows; None: no limit
    prefer_interpretable: bool = False  # recommend an interpretable model when not worse
    # Refits (folds, learning-curve points) at once: None every core, -k all but k-1 (joblib)
    n_jobs: int | None = None

    @classmethod
    def from_mapping(cls, raw: dict[str, Any] | None) -> CompareConfig:
        raw = dict(raw or {})
        return cls(
            resampling=ResamplingConfig(**(raw.pop("resampling", None) or {})),
            learning_curve=LearningCurveConfig(**(raw.pop("learning_curve", None) or {})),
            importance=ImportanceConfig(**(raw.pop("importance", None) or {})),
            **raw,
        )


@dataclass(frozen=True)
class EnsembleConfig:
    """The ensemble contestant (docs/verdict.md): the best classical and best deep
    model averaged, the weight fitted on validation predictions."""

    enabled: bool = True
    weight_steps: int = 21  # candidate weights 0, 1/(steps-1), ..., 1

    def __post_init__(self):
        if self.weight_steps < 2:
            raise ValueError(f"ensemble.weight_steps must be >= 2, got {self.weight_steps}")


@dataclass(frozen=True)
class Params:
    seed: int
    data: DataConfig
    split: SplitConfig
    featurize_steps: list[dict[str, Any]]
    models: dict[str, dict[str, Any]]  # name -> Hydra config with `_target_`
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    promote: PromoteConfig = field(default_factory=PromoteConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    tracking_uri: str | None = None
    # contestant -> how its config was tuned ({sweep, budget, val score}); absent: defaults
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def registered_model(self) -> str:
        """The registry's name for this bake-off's models: promote.registered_model, else
        the dataset's name. Promotion, the registry CLI and batch prediction all use it."""
        return self.promote.registered_model or self.data.name

    @property
    def model_steps(self) -> list[dict[str, Any]]:
        """What every model applies to raw rows: the row key dropped, then featurize.steps."""
        key = [{"drop_row_key": list(self.data.key)}] if self.data.key else []
        return key + self.featurize_steps


def params_from_mapping(raw: dict[str, Any]) -> Params:
    """Typed parameters from the composed configuration (params.yaml or a Hydra config)."""
    data = DataConfig(**{k: v for k, v in raw["data"].items() if v is not None or k == "task"})
    if data.task is not None and data.task not in TASKS:
        raise ValueError(f"data.task must be one of {TASKS} or null, got {data.task!r}")
    bad_kinds = {c: k for c, k in data.column_types.items() if k not in COLUMN_KINDS}
    if bad_kinds:
        raise ValueError(f"data.column_types: {bad_kinds} — kinds must be one of {COLUMN_KINDS}")
    models = dict(raw.get("models") or {})
    if not models:
        raise ValueError(
            "no models configured: add `model@models.<name>: <file>` to conf/config.yaml"
        )
    if ENSEMBLE in models:
        raise ValueError(
            f"models.{ENSEMBLE}: the name is the ensemble contestant's (ensemble.enabled); "
            "give this model another name"
        )
    return Params(
        seed=int(raw["seed"]),
        data=data,
        split=SplitConfig(**raw.get("split", {})),
        featurize_steps=list((raw.get("featurize") or {}).get("steps") or []),
        models=models,
        evaluate=EvaluateConfig(**raw.get("evaluate", {})),
        validate=ValidateConfig(**(raw.get("validate") or {})),
        drift=DriftConfig(**(raw.get("drift") or {})),
        promote=PromoteConfig(**(raw.get("promote") or {})),
        compare=CompareConfig.from_mapping(raw.get("compare")),
        ensemble=EnsembleConfig(**(raw.get("ensemble") or {})),
        tracking_uri=(raw.get("mlflow") or {}).get("tracking_uri"),
        tuning=dict(raw.get("tuning") or {}),
    )


def read_params_file(path: Path = PARAMS_FILE) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `dvc exp run` (it composes conf/ into it)")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_params(path: Path = PARAMS_FILE) -> Params:
    return params_from_mapping(read_params_file(path))


def registered_model_name() -> str:
    """The configured registered model (promote.registered_model, else the dataset's name),
    for the command-line tools run from the project."""
    return load_params().registered_model


def load_model_params(argv: list[str] | None, description: str) -> tuple[str, Params]:
    """For the per-model stages: the model named on the command line and the params."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("model", help="model name: a key of `models` in params.yaml")
    name = parser.parse_args(argv).model
    params = load_params()
    if name not in params.models:
        raise SystemExit(
            f"model {name!r} is not in the line-up; configured: {sorted(params.models)}"
        )
    return name, params


def compose_conf(conf_dir: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """conf/config.yaml composed with Hydra exactly as `dvc exp run` does it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(conf_dir.resolve()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides or [])
    return OmegaConf.to_container(cfg, resolve=True)


def diff_configs(expected: Any, actual: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested mappings, with both values."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        lines = []
        for key in sorted(set(expected) | set(actual), key=str):
            where = f"{prefix}.{key}" if prefix else str(key)
            if key not in actual:
                lines.append(f"{where}: in conf/ but missing from params.yaml")
            elif key not in expected:
                lines.append(f"{where}: in params.yaml but not in conf/")
            else:
                lines.extend(diff_configs(expected[key], actual[key], where))
        return lines
    if expected != actual:
        return [f"{prefix}: conf/ has {expected!r}, params.yaml has {actual!r}"]
    return []


def check_params(conf_dir: Path, params_file: Path) -> list[str]:
    return diff_configs(compose_conf(conf_dir), read_params_file(params_file))
