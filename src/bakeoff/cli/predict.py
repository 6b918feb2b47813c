"""Batch prediction with a registered model: raw rows in, predictions out.

    python -m bakeoff.cli.predict --model champion --input new.csv --output predictions.csv

`--model` is an alias of the dataset's registered model (champion, challenger), a version
number, or any MLflow model URI (models:/..., runs:/..., a folder). The input is checked
against what the model was trained on before anything is predicted: missing columns and
values of the wrong type are errors naming the file and column; categories never seen in
training are warnings (they are encoded as unknown). The output has `prediction` and, for
classification, one `proba_<class>` column per class, row for row, plus any `--keep`
columns copied from the input (an ID); input columns the model does not read are named once
and left out. The output may not be the input file, nor an existing file unless
`--overwrite`.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import warnings
from pathlib import Path

import pandas as pd

from bakeoff import setup_process
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
    # Unseen categories were reported above, per file and column; any other warning (an
    # overflow on an extreme value, a library's) is the user's to see.
    from bakeoff.models.tabular import UnseenCategoryWarning  # loaded with the model already

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UnseenCategoryWarning)
        predictions = served.predict_frame(frame)
    return predictions, problems


def output_problem(input_path: Path, output: Path, overwrite: bool) -> Problem | None:
    """The output must not be the input (the rows would be lost), nor, unless --overwrite,
    any file that exists."""
    if output.resolve() == input_path.resolve():
        return Problem(
            "output_is_input",
            f"--output {output} is the input file itself (after following links): writing "
            "predictions there would destroy the rows; choose another output file",
            file=str(output),
        )
    if output.exists() and not overwrite:
        return Problem(
            "output_exists",
            "--output names a file that exists; choose a new name, or pass --overwrite",
            file=str(output),
        )
    return None


def unused_columns(frame: pd.DataFrame, model, keep: list[str], file: str) -> Problem | None:
    """Input columns the model does not read (nor --keep copies): dropped, and said once."""
    schema = model.metadata.get_input_schema()
    used = set(schema.input_names()) if schema is not None else set(frame.columns)
    unused = [c for c in frame.columns if c not in used and c not in keep]
    if not unused:
        return None
    return Problem(
        "unused_columns",
        f"{len(unused)} input column(s) {unused[:20]} are not inputs of the model and are "
        "left out of the output (--keep copies columns, an ID for instance)",
        severity="warning",
        file=file,
    )


def main(argv: list[str] | None = None) -> None:
    setup_process()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="champion", help="alias, version or model URI")
    parser.add_argument("--input", required=True, type=Path, help="CSV, Parquet or JSON lines")
    parser.add_argument("--output", required=True, type=Path, help="CSV or Parquet")
    parser.add_argument("--name", help="registered model (default: the configured dataset)")
    parser.add_argument("--keep", nargs="*", default=[], help="input columns to copy (IDs)")
    parser.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI or the project's")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    args = parser.parse_args(argv)
    if problem := output_problem(args.input, args.output, args.overwrite):
        log.error("nothing predicted: %s", problem.line())
        sys.exit(1)

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
        problems += [p for p in [unused_columns(frame, model, args.keep, str(args.input))] if p]
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
