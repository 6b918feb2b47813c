"""How the default bake-off's cost grows with the data: synthetic mixed-type tables of 1k,
10k and 100k rows x 20 columns (numbers, categories, booleans, missing values), and a wide
input (5,000 grayscale 28x28 images: 784 pixel columns), each through the real pipeline
(`make run`'s `python -m bakeoff.warm dvc exp run`, default line-up, quick verdict settings)
in a scratch copy of the project, with a time budget per network fit (`trainer.max_time`,
`--max-time`; none: `--max-time 0`): a fit it stops is listed as guarded.

Per contestant: fit time, p95 latency (1,000 rows), peak memory, and whether it was guarded
(an approximation or a skip, with the reason); per table: the pipeline's wall time.

    python benchmarks/scaling.py [--rows 1000 10000 100000] [--wide/--no-wide] [--max-time 60]
                                  [--name NAME]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from common import ROOT, save_result

sys.path.insert(0, str(ROOT / "tests"))
from pipeline_project import QUICK_VERDICT, copy_project
from verdict_cost import timed_run

KEEP = Path("/tmp/bakeoff-scaling")
TITLE = "How the default bake-off's cost grows with rows (and with 784 pixel columns)"


def mixed_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """20 columns: 12 numbers (some missing), 6 categories (3 to 200 levels, some missing),
    2 booleans; a binary target that depends on numbers, categories and an interaction."""
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(rows, 12))
    numbers[rng.random((rows, 12)) < 0.05] = np.nan
    frame = pd.DataFrame(numbers, columns=[f"x{i}" for i in range(12)])
    for i, levels in enumerate((3, 5, 10, 20, 50, 200)):
        codes = rng.integers(0, levels, size=rows)
        column = pd.Series([f"c{i}_{c}" for c in codes], dtype="str")
        frame[f"cat{i}"] = column.mask(rng.random(rows) < 0.03)
    frame["flag0"] = rng.random(rows) < 0.3
    frame["flag1"] = rng.random(rows) < 0.6
    x = np.nan_to_num(numbers)
    signal = x[:, 0] + 0.8 * x[:, 1] * x[:, 2] + np.sin(2 * x[:, 3])
    signal += frame["cat1"].isin(["c1_0", "c1_1"]).to_numpy() * 1.2 + frame["flag0"] * 0.5
    frame["label"] = np.where(signal + rng.normal(scale=0.8, size=rows) > 0.4, "yes", "no")
    return frame


def wide_images(count: int, folder: Path, seed: int = 0) -> Path:
    """`count` grayscale 28x28 images (scikit-learn's digits, upscaled and jittered) as an
    npz card's arrays X (N, 28, 28) and y."""
    from PIL import Image
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    digits = load_digits()
    picks = rng.integers(0, len(digits.images), size=count)
    images = []
    for i in picks:
        image = Image.fromarray((digits.images[i] * 16).astype(np.uint8)).resize((28, 28))
        array = np.roll(np.asarray(image, dtype=np.float32), rng.integers(-2, 3, 2), (0, 1))
        images.append(np.clip(array + rng.normal(scale=8, size=array.shape), 0, 255))
    path = folder / "wide_images.npz"
    np.savez_compressed(path, X=np.stack(images).astype(np.uint8), y=digits.target[picks])
    return path


def card(name: str, source: dict, target: str, extra: dict | None = None) -> str:
    import yaml

    return yaml.safe_dump({"name": name, "source": source, "target": target, **(extra or {})})


def contestant_rows(
    project: Path, stages: dict[str, float], label: str, n_rows: int | None = None
) -> list[dict]:
    """One row per contestant; `n_rows` (the table's rows) places it on the chart."""
    rows = []
    for stage, seconds in stages.items():
        if not stage.startswith("contestant@"):
            continue
        name = stage.split("@", 1)[1]
        trained = json.loads((project / f"data/models/{name}/train.json").read_text())
        scores = json.loads((project / f"reports/evaluate/{name}/metrics.json").read_text())
        importance = json.loads((project / f"reports/evaluate/{name}/importance.json").read_text())
        resamples = json.loads((project / f"reports/resample/{name}.json").read_text())
        refits = resamples.get("resamples") or []
        rows.append(
            {
                "table": label,
                "rows": n_rows,
                "model": name,
                "status": trained.get("status"),
                "fit s": round(trained.get("fit_seconds", float("nan")), 2),
                "p95 latency ms": round(scores.get("latency_p95_ms", float("nan")), 1),
                "peak memory MB": round(trained.get("peak_memory_mb", float("nan")), 1),
                "stage s": round(seconds, 1),
                "guard": trained.get("guard") or trained.get("error", "")[:80],
                "refits guarded": f"{sum(bool(r.get('guard')) for r in refits)} of {len(refits)}",
                "importance": importance_text(importance),
            }
        )
    return rows


def importance_text(found: dict) -> str:
    """Rows shuffled of the test rows and seconds, or why the limits left it out."""
    if found.get("skipped"):
        return "not computed (under 50 rows within the limits)"
    if "rows" not in found:
        return ""
    return f"{found['rows']:,} of {found['test_rows']:,} rows, {found['seconds']:.0f} s"


def run_table(
    label: str, files: dict[str, Path], card_text: str, name: str, budget: list[str]
) -> dict:
    project = KEEP / label
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    copy_project(project, {**files, f"conf/data/{name}.yaml": write_card(card_text, name)})
    # As `make run` runs it: under the warm stage server (bakeoff.warm).
    stages, total, _ = timed_run(
        project,
        ["-S", f"data={name}", *QUICK_VERDICT, *budget],
        (sys.executable, "-m", "bakeoff.warm"),
    )
    return {"project": project, "stages": stages, "total": total}


def write_card(text: str, name: str) -> Path:
    path = KEEP / "cards" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def save(pipelines: list[dict], rows: list[dict], max_time: float, name: str | None) -> None:
    """The results so far: written after every table, so that a long run stopped part-way
    still leaves what it measured."""
    save_result(
        f"scaling_{name}" if name else "scaling",
        title=TITLE + (f", {settings(max_time)}" if name else ""),
        command=" ".join(["python benchmarks/scaling.py", *sys.argv[1:]]),
        tables=[
            {"caption": f"the pipeline's wall time ({settings(max_time)})", "rows": pipelines},
            {"caption": "per contestant", "rows": rows},
        ],
        notes=[
            "fit: the final fit alone, warm; latency: p95 to predict 1,000 raw rows through "
            "the saved model; stage: the contestant's whole stage (fit, evaluation, "
            "importance, refits).",
            "guard: an approximation or a refusal the contestant applied, with its reason; "
            "the time budget bounds every network fit (refits and learning-curve points "
            "too); guard: whether it stopped the final fit; refits guarded: how many of the "
            "resample refits it stopped.",
            "importance: the permutation importance's rows (of the test rows) and seconds, "
            "within compare.importance's limits (max_rows, max_predictions, max_seconds).",
        ],
        # One chart, of the main run (a named run is a variant of one table).
        chart=None
        if name
        else {"table": 1, "x": "rows", "y": "fit s", "series": "model", "file": "scaling.svg"},
    )


def settings(max_time: float) -> str:
    budget = f"trainer.max_time={max_time:g} s per network fit" if max_time else "no time budget"
    return f"quick verdict settings, {budget}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--wide", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--max-time", type=float, default=60.0, help="seconds per network fit; 0: no budget"
    )
    parser.add_argument("--name", help="results file scaling_<name>.json (default: scaling.json)")
    args = parser.parse_args()
    budget = ["-S", f"trainer.max_time={args.max_time:g}"] if args.max_time else []
    KEEP.mkdir(parents=True, exist_ok=True)
    pipelines, rows = [], []
    for n in args.rows:
        name = f"synthetic_{n}"
        csv = KEEP / f"{name}.csv"
        mixed_table(n).to_csv(csv, index=False)
        text = card(name, {"kind": "file", "path": f"data/external/{name}.csv"}, "label")
        result = run_table(name, {f"data/external/{name}.csv": csv}, text, name, budget)
        print(f"{name}: {result['total']:.0f} s", flush=True)
        pipelines.append({"table": f"{n:,} rows x 20", "pipeline s": round(result["total"], 1)})
        rows += contestant_rows(result["project"], result["stages"], f"{n:,} rows", n)
        save(pipelines, rows, args.max_time, args.name)
    if args.wide:
        name = "wide_images"
        npz = wide_images(5_000, KEEP)
        text = card(
            name,
            {"kind": "images", "format": "npz", "path": f"data/external/{name}.npz"},
            "label",
            {
                "image": {"shape": [1, 28, 28]},
                "task": "classification",
                "defaults": [{"/model@_global_.models.cnn": "cnn"}],
            },
        )
        result = run_table(name, {f"data/external/{name}.npz": npz}, text, name, budget)
        pipelines.append(
            {"table": "5,000 images, 784 pixels", "pipeline s": round(result["total"], 1)}
        )
        rows += contestant_rows(result["project"], result["stages"], "784 pixels")
        save(pipelines, rows, args.max_time, args.name)


if __name__ == "__main__":
    main()
