"""Batch prediction with a registered model: raw rows in, predictions out.

    python -m bakeoff.cli.predict --model champion --input new.csv --output predictions.csv

`--model` is an alias of the dataset's registered model (champion, challenger), a version
number, or any MLflow model URI (models:/..., runs:/..., a folder). The input is checked
against what the model was trained on before anything is predicted: missing columns and
values of the wrong type are errors naming the file and column; categories never seen in
training are warnings (they are encoded as unknown). The output has `prediction` and, for
classification, one `proba_<class>` column per class, row for row, plus any `--keep`
columns copied from the input (an ID).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import warnings
from pathlib import Path

import pandas as pd

from bakeoff import setup_logging
from bakeoff.data.sources import read_table
from bakeoff.fileio import write_atomic
from bakeoff.params import registered_model_name
from bakeoff.problems import DataError, Problem, errors

log = logging.getLogger(__name__)
ALIAS = re.compile(r"^[A-Za-z][\w-]*$")


def model_uri(model: str, name: str) -> str:
    """An alias or a version of the registered model `name`, else `model` as given."""
    if model.isdigit():
        return f"models:/{name}/{model}"
    if ALIAS.match(model) and not Path(model).exists():
        return f"models:/{name}@{model}"
    return model


def check_rows(frame: pd.DataFrame, served, required: list[str], file: str) -> list[Problem]:
    """Every problem with the input at once: the model's own rules, and raw columns the saved
    model's signature needs besides its features (featurize steps read them)."""
    features = set(served.model.feature_columns_)
    problems = [
        Problem(
            "missing_column",
            "the model needs this column; the input lacks it",
            file=file,
            column=name,
        )
        for name in required
        if name not in frame.columns and name not in features
    ]
    return problems + served.model.input_problems(frame, file)


def predict_rows(pyfunc_model, frame: pd.DataFrame, file: str) -> tuple[pd.DataFrame, list]:
    """Check, then predict through the model's own code (what `mlflow models serve` runs)."""
    served = pyfunc_model.unwrap_python_model().served
    required = pyfunc_model.metadata.get_input_schema().input_names()
    problems = check_rows(frame, served, required, file)
    if errors(problems):
        raise DataError(problems)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unseen categories: already reported above
        predictions = served.predict_frame(frame)
    return predictions, problems


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="champion", help="alias, version or model URI")
    parser.add_argument("--input", required=True, type=Path, help="CSV, Parquet or JSON lines")
    parser.add_argument("--output", required=True, type=Path, help="CSV or Parquet")
    parser.add_argument("--name", help="registered model (default: the configured dataset)")
    parser.add_argument("--keep", nargs="*", default=[], help="input columns to copy (IDs)")
    parser.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI or the project's")
    args = parser.parse_args(argv)

    import mlflow

    from bakeoff.tracking import store

    store.connect(args.tracking_uri)
    uri = model_uri(args.model, args.name or registered_model_name())
    try:
        frame = read_table(args.input, {})
        missing_keep = [c for c in args.keep if c not in frame.columns]
        if missing_keep:
            raise DataError(
                [
                    Problem(
                        "missing_column",
                        "--keep names it; the input lacks it",
                        file=str(args.input),
                        column=c,
                    )
                    for c in missing_keep
                ]
            )
        model = mlflow.pyfunc.load_model(uri)
        predictions, problems = predict_rows(model, frame, str(args.input))
    except DataError as exc:
        log.error("cannot predict %s with %s\n%s", args.input, uri, exc)
        sys.exit(1)
    for problem in problems:
        log.warning("%s", problem.line())
    out = pd.concat([frame[args.keep], predictions], axis=1)
    if args.output.suffix.lower() in (".parquet", ".pq"):
        write_atomic(args.output, lambda tmp: out.to_parquet(tmp, index=False))
    else:
        write_atomic(args.output, lambda tmp: out.to_csv(tmp, index=False))
    log.info("%d predictions from %s written to %s", len(out), uri, args.output)


if __name__ == "__main__":
    main()
