"""The MLflow UI as a user meets it after `make run` and `make ui`: a real `mlflow ui` over the
shared pipeline run's store, read through the MLflow client and in a real headless Chromium
(driven by Playwright, at 1600x1000) as a person would click through it.

Screenshots go to tests/artifacts/mlflow-ui-*.png (git-ignored); their paths are printed.
Without Chromium the browser tests skip, or fail under BAKEOFF_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import yaml

from bakeoff.cli.ui import experiment_url, links
from bakeoff.paths import model_dir
from bakeoff.tracking.store import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG
from browser import REQUIRE_ENV, require_chromium
from pipeline_project import DEEP, MODELS, PROJECT_ROOT
from tracking_server import mlflow_ui

DATASET = "breast_cancer"
SPLITS = {"train": "training", "val": "validation", "test": "test"}
SHOTS = PROJECT_ROOT / "tests/artifacts"
VIEWPORT = {"width": 1600, "height": 1000}
# The UI is a React app that fetches after the first paint; under load that takes a while.
WAIT_MS = 90_000


def client_for(project: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")


def pipeline_run(client: mlflow.MlflowClient, experiment_id: str):
    """The shared project's first pipeline run (later tests add more)."""
    (first, *_) = client.search_runs(
        [experiment_id], "tags.`bakeoff.kind` = 'pipeline'", order_by=["attributes.start_time ASC"]
    )
    return first


def contestant_runs(client: mlflow.MlflowClient, experiment_id: str, parent: str) -> dict:
    children = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    return {r.data.tags["bakeoff.model"]: r for r in children}


def test_make_ui_prints_a_link_per_experiment_and_the_way_to_the_comparison():
    base = "http://127.0.0.1:5000"
    text = links(base, [("adult", "3"), ("breast_cancer", "1")])
    lines = text.splitlines()
    assert lines[2].split() == [
        "adult",
        f"{base}/#/experiments/3/runs?workflowType=machine_learning",
    ]
    assert lines[3].split()[0] == "breast_cancer"
    assert "Training runs" in text and text.rstrip().endswith("→ Compare.")
    assert "`make run` first" in links(base, [])


@pytest.fixture(scope="module")
def recorded(project) -> dict:
    """What the first pipeline run recorded, read through the client."""
    client = client_for(project)
    experiment = client.get_experiment_by_name(DATASET)
    parent = pipeline_run(client, experiment.experiment_id)
    board = json.loads((project / "reports/leaderboard.json").read_text())
    assert board["pipeline_run_id"] == parent.info.run_id
    return {
        "client": client,
        "experiment": experiment,
        "parent": parent,
        "runs": contestant_runs(client, experiment.experiment_id, parent.info.run_id),
        "board": board,
        "promotion": json.loads((project / "reports/promotion.json").read_text()),
    }


def test_the_store_says_what_the_ui_shows(project, recorded):
    """The same facts through the client API: experiment kind, run names and description,
    one logged model per contestant ranked by its test metric, the splits as run inputs
    whose digests are dvc.lock's md5s, system metrics for the networks only."""
    client, experiment, parent = recorded["client"], recorded["experiment"], recorded["parent"]
    runs, board = recorded["runs"], recorded["board"]
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    assert sorted(runs) == sorted([*MODELS, "ensemble"])  # the ensemble is a contestant
    assert re.fullmatch(r"bake-off · breast_cancer · [\w-]+", parent.info.run_name)
    experiment_name = parent.info.run_name.rsplit(" · ", 1)[1]  # DVC's experiment name
    description = parent.data.tags["mlflow.note.content"]
    assert board["verdict"]["sentence"] in description
    assert all(f"| {name} " in description for name in MODELS)  # the leaderboard table

    lock = yaml.safe_load((project / "dvc.lock").read_text())
    md5 = {out["path"]: out["md5"] for out in lock["stages"]["split"]["outs"]}
    model_ids = {}
    for name, run in runs.items():
        assert run.info.run_name == f"{name} · breast_cancer · {experiment_name}"
        inputs = {
            next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset
            for i in run.inputs.dataset_inputs
        }
        assert set(inputs) == set(SPLITS.values()), name
        for split, context in SPLITS.items():
            assert inputs[context].name == f"breast_cancer/{split}"
            assert inputs[context].digest == md5[f"data/interim/{split}.parquet"], (name, split)
            assert json.loads(inputs[context].source)["uri"].endswith("data/interim/data_card.json")
        (output,) = run.outputs.model_outputs
        model_ids[name] = output.model_id
        trained = json.loads((project / model_dir(name) / "train.json").read_text())
        assert (
            trained["model_uri"]
            == f"models:/{output.model_id}"
            == board["models"][name]["model_uri"]
        )
        system = any(key.startswith("system/") for key in run.data.metrics)
        assert system == (name in DEEP), name

    # The store ranks the models by their test metric (later tests log more models: keep
    # this pipeline run's, in the store's order).
    searched = client.search_logged_models(
        [experiment.experiment_id],
        order_by=[{"field_name": "metrics.test/accuracy", "ascending": False}],
        max_results=1000,
    )
    ours = {r.info.run_id for r in runs.values()}
    ranked = [m for m in searched if m.source_run_id in ours]
    assert sorted(m.model_id for m in ranked) == sorted(model_ids.values())
    scores = []
    for model in ranked:
        (test,) = [m for m in model.metrics if m.key == "test/accuracy"]
        assert test.dataset_name == "breast_cancer/test"
        assert test.value == board["models"][model.name]["accuracy"]
        scores.append(test.value)
    assert scores == sorted(scores, reverse=True)

    # promote registered the challenger from its logged model, not from a run's artifacts
    promotion = recorded["promotion"]
    version = client.get_model_version(DATASET, promotion["challenger_version"])
    assert version.source == f"models:/{model_ids[promotion['challenger_model']]}"


# --- in the browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ui(project, tmp_path_factory) -> Iterator[str]:
    """`mlflow ui` over the shared project's store, as `make ui` starts it."""
    log = tmp_path_factory.mktemp("mlflow-ui") / "ui.log"
    with mlflow_ui(project, log) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium: the system's, driven by Playwright (which downloads no browser)."""
    chromium = require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "Playwright is not installed: `make setup` installs it (a dev dependency)"
        if os.environ.get(REQUIRE_ENV, "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium,
            # As tests/browser.py: root in CI, small /dev/shm in containers, no GPU.
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    yield opened
    context.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"mlflow-ui-{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def numbers_in(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]


def open_ui(page, url: str, ready: str) -> None:
    """Open `url` and wait for the text `ready`; the assistant's side panel, which opens by
    itself, is closed to leave the page its width."""
    page.goto(url)
    page.get_by_text(ready, exact=True).first.wait_for()
    close = page.get_by_role("button", name="Close", exact=True)
    if close.count():
        close.first.click()


def test_the_link_make_ui_prints_opens_the_experiment_on_its_training_runs(ui, recorded, page):
    """Not on MLflow 3's GenAI overview (traces, tokens) but on the runs table."""
    experiment_id = recorded["experiment"].experiment_id
    open_ui(page, experiment_url(ui, experiment_id), "Run Name")
    assert f"/experiments/{experiment_id}/runs" in page.url
    assert page.locator("h2", has_text="Runs").count() == 1
    assert page.get_by_text("Token Usage").count() == 0  # the GenAI overview's
    shot(page, "training-runs")


def test_every_contestant_is_listed_under_the_pipeline_run_with_its_data_and_test_metric(
    ui, recorded, page
):
    experiment_id, parent = recorded["experiment"].experiment_id, recorded["parent"]
    runs, board = recorded["runs"], recorded["board"]
    open_ui(page, experiment_url(ui, experiment_id), "Run Name")
    # The pipeline run is listed with its contestants folded under it: unfold them.
    parent_row = page.locator(f"[role=row][row-id='{parent.info.run_id}']")
    assert parent.info.run_name in parent_row.first.inner_text()
    parent_row.first.locator("[col-id='attributes.`Run Name`'] button").first.click()
    # The test metric as a column, as a user adds it.
    page.get_by_role("button", name="Columns", exact=True).click()
    page.get_by_placeholder("Search columns").fill("test/accuracy")
    page.get_by_text("test/accuracy", exact=True).click()
    page.keyboard.press("Escape")
    page.locator("[role=columnheader]", has_text="test/accuracy").first.wait_for()
    versions: dict[str, set[str]] = {}  # model id -> "v<n>" of the versions made from it
    for version in recorded["client"].search_model_versions(f"name='{DATASET}'"):
        versions.setdefault(version.source.removeprefix("models:/"), set()).add(
            f"v{version.version}"
        )
    for name, run in runs.items():
        row = page.locator(f"[role=row][row-id='{run.info.run_id}']")
        row.first.wait_for()
        text = " ".join(row.all_inner_texts())  # the grid's pinned and scrolling halves
        assert run.info.run_name in text, name
        for split in SPLITS:
            (digest,) = [
                i.dataset.digest
                for i in run.inputs.dataset_inputs
                if i.dataset.name == f"breast_cancer/{split}"
            ]
            assert f"breast_cancer/{split} ({digest})" in text, (name, split)
        # The run's logged model, named as the contestant, or a registry version of it.
        (output,) = run.outputs.model_outputs
        shown = row.locator("[col-id='attributes.`Models`']").first.inner_text().split()
        if shown != [name]:
            assert shown[0] == DATASET and shown[1] in versions[output.model_id], (name, shown)
        metric = row.locator("[col-id='metrics.`test/accuracy`']").first.inner_text()
        assert float(metric) == pytest.approx(board["models"][name]["accuracy"]), name
    shot(page, "contestants")


def test_the_models_tab_lists_one_logged_model_per_contestant_with_its_test_metric(
    ui, recorded, page
):
    experiment_id, runs, board = (
        recorded["experiment"].experiment_id,
        recorded["runs"],
        recorded["board"],
    )
    open_ui(
        page,
        f"{ui}/#/experiments/{experiment_id}/models?workflowType=machine_learning",
        "Model name",
    )
    # Test metrics are grouped under the dataset they were computed on. The metric columns
    # are added once the models' metrics have loaded, after the table itself is drawn.
    page.locator("[role=columnheader]", has_text="test/accuracy").first.wait_for()
    header = " ".join(page.locator("[role=columnheader]").all_inner_texts())
    assert "breast_cancer/test" in header and "test/accuracy" in header
    for name, run in runs.items():
        (output,) = run.outputs.model_outputs
        row = page.locator(f"[role=row][row-id='{output.model_id}']")
        row.first.wait_for()
        text = " ".join(row.all_inner_texts())
        assert name in text.split() and run.info.run_name in text, name
        assert board["models"][name]["accuracy"] in numbers_in(text), name
    page.locator("[role=columnheader]", has_text="test/accuracy").first.scroll_into_view_if_needed()
    shot(page, "models")


def test_comparing_two_networks_draws_their_curves(ui, recorded, page):
    """Training runs → tick two contestants → Compare → a curve (val/loss per epoch)."""
    experiment_id, parent, runs = (
        recorded["experiment"].experiment_id,
        recorded["parent"],
        recorded["runs"],
    )
    open_ui(page, experiment_url(ui, experiment_id), "Run Name")
    page.locator(
        f"[role=row][row-id='{parent.info.run_id}'] [col-id='attributes.`Run Name`'] button"
    ).first.click()
    pair = [runs["mlp"], runs["tabm"]]
    for run in pair:
        page.locator(f"[role=row][row-id='{run.info.run_id}'] input[type=checkbox]").first.check()
    page.get_by_role("button", name="Compare", exact=True).click()
    page.get_by_text("Comparing 2 Runs").first.wait_for()
    page.locator(".js-plotly-plot").first.wait_for()  # the parallel-coordinates plot
    shot(page, "compare")
    # The metrics table is virtualised: scroll it until the curve's link is drawn.
    link = page.get_by_role("link", name="val/loss", exact=True)
    table = page.locator("[aria-label=grid]").last
    for _ in range(50):
        if link.count():
            break
        table.evaluate("grid => { grid.scrollTop += 200; }")
        page.wait_for_timeout(200)
    # Followed as a click would: the grid's sticky cells can lie over it at some widths.
    page.goto(f"{ui}/{link.first.get_attribute('href')}")
    page.locator(".js-plotly-plot g.trace.scatter").nth(1).wait_for()
    for run in pair:
        page.get_by_text(f"{run.info.run_name} (val/loss)").first.wait_for()
    shot(page, "curves")


def test_the_pipeline_run_shows_the_verdict_first_and_the_report_in_its_artifacts(
    ui, recorded, page
):
    experiment_id, parent, board = (
        recorded["experiment"].experiment_id,
        recorded["parent"],
        recorded["board"],
    )
    url = f"{ui}/#/experiments/{experiment_id}/runs/{parent.info.run_id}?workflowType=machine_learning"
    open_ui(page, url, "Description")
    sentence = board["verdict"]["sentence"]
    page.get_by_text(sentence).first.wait_for()  # the description, rendered from Markdown
    shot(page, "pipeline-run")
    page.get_by_role("tab", name="Artifacts").click()
    page.get_by_text("report.html", exact=True).first.click()
    # The UI shows an .html artifact in an iframe: the report itself, its sections.
    report = page.frame_locator("iframe").first
    report.get_by_role("heading", name="Verdict").wait_for()
    assert report.get_by_text(sentence).count() >= 1
    shot(page, "report")
