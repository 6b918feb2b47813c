"""The shape of the package: stages are thin and never import each other, the library never
imports a stage, imports point down the layers, and dvc.yaml lists exactly the code each
stage runs."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
import yaml

from bakeoff.cli import deps
from pipeline_project import PROJECT_ROOT

SRC = PROJECT_ROOT / "src" / "bakeoff"
# Bottom to top: a module may import its own layer and the ones below, never one above.
LAYERS = [
    {
        "bakeoff",
        "bakeoff.params",
        "bakeoff.paths",
        "bakeoff.fileio",
        "bakeoff.problems",
        "bakeoff.guard",
        "bakeoff.watch",
        "bakeoff.warm",
    },
    {"bakeoff.data"},
    {"bakeoff.models"},
    {"bakeoff.evaluation"},
    {"bakeoff.tracking"},
    {"bakeoff.reporting"},
    {"bakeoff.stages", "bakeoff.cli"},
]
# Kept at its 0.1 import path so that models saved by 0.1 still unpickle (docs/upgrading.md).
COMPATIBILITY = {"bakeoff.serving"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    for depth, names in enumerate(LAYERS):
        if module in names:
            return depth
    parts = module.split(".")
    for depth, names in enumerate(LAYERS):
        if ".".join(parts[:2]) in names:
            return depth
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def imports_of(path: Path) -> set[str]:
    source = deps.Source(PROJECT_ROOT)
    return deps._imported_names(ast.parse(path.read_text()), module_name(path), source)


MODULES = sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_point_down_the_layers(path):
    module = module_name(path)
    if module in COMPATIBILITY:
        return
    own = layer_of(module)
    upward = {
        imported
        for imported in imports_of(path)
        if imported not in COMPATIBILITY and layer_of(imported) > own
    }
    assert not upward, f"{module} (layer {own}) imports from above: {sorted(upward)}"


def test_no_stage_imports_another_and_no_library_module_imports_a_stage():
    offenders = []
    for path in MODULES:
        module = module_name(path)
        stages = {m for m in imports_of(path) if m.startswith("bakeoff.stages.") and m != module}
        if stages:
            offenders.append(f"{module} imports {sorted(stages)}")
    assert not offenders, offenders


def test_every_stage_in_dvc_yaml_runs_a_module_of_the_stages_package_named_like_it():
    dvc = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())
    modules = deps.stage_modules(dvc)
    assert set(modules) == set(dvc["stages"])
    for stage, module in modules.items():
        assert module == f"bakeoff.stages.{stage}", (stage, module)
        assert (SRC / "stages" / f"{stage}.py").is_file()


def test_dvc_yaml_lists_exactly_the_code_each_stage_runs():
    assert deps.differences(PROJECT_ROOT) == {}, (
        "dvc.yaml's code deps differ from the stages' import closures: run "
        "`python -m bakeoff.cli.deps --write`"
    )


def copy_for_deps(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(
        PROJECT_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy2(PROJECT_ROOT / "dvc.yaml", root / "dvc.yaml")
    return root


def test_the_check_fails_when_a_dep_is_deleted_or_one_is_added(tmp_path):
    root = copy_for_deps(tmp_path)
    dvc = yaml.safe_load((root / "dvc.yaml").read_text())
    deps_of_report = dvc["stages"]["report"]["deps"]
    deps_of_report.remove("src/bakeoff/reporting/html.py")
    deps_of_report.append("src/bakeoff/data/drift.py")
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    assert deps.differences(root) == {
        "report": {
            "missing": ["src/bakeoff/reporting/html.py"],
            "extra": ["src/bakeoff/data/drift.py"],
        }
    }
    deps.write(root)
    assert deps.differences(root) == {}


def test_writing_deps_that_are_already_right_leaves_dvc_yaml_untouched(tmp_path):
    """--write rewrites dvc.yaml only when a stage's code deps change (the pipeline file is
    not reformatted, or exposed to an interrupted write, for nothing)."""
    root = copy_for_deps(tmp_path)
    before = (root / "dvc.yaml").stat()
    assert deps.write(root) == []
    after = (root / "dvc.yaml").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_closure_follows_function_level_imports_and_dynamic_model_loading(tmp_path):
    root = copy_for_deps(tmp_path)
    source = deps.Source(root)
    helper = root / "src/bakeoff/reporting/extra_helper.py"
    helper.write_text('"""A helper only a function imports."""\n')
    stage = root / "src/bakeoff/stages/report.py"
    stage.write_text(
        stage.read_text()
        + "\n\ndef _late():\n    from bakeoff.reporting import extra_helper  # noqa: F401\n"
    )
    assert "src/bakeoff/reporting/extra_helper.py" in deps.code_deps(
        "bakeoff.stages.report", source
    )
    # Loading a saved model unpickles classes from bakeoff.models: the whole package.
    assert "src/bakeoff/models" in deps.code_deps("bakeoff.stages.contestant", source)
    assert "src/bakeoff/models" not in deps.code_deps("bakeoff.stages.report", source)
    # The report's template is code too: html.py reads it from the folder beside it.
    assert "src/bakeoff/reporting/templates" in deps.code_deps("bakeoff.stages.report", source)
    # Imports only a type checker runs are not code the stage runs.
    typed = root / "src/bakeoff/stages/featurize.py"
    typed.write_text(
        typed.read_text().replace(
            "from __future__ import annotations\n",
            "from __future__ import annotations\n\nfrom typing import TYPE_CHECKING\n\n"
            "if TYPE_CHECKING:\n    from bakeoff.reporting import plots  # noqa: F401\n",
        )
    )
    assert "src/bakeoff/reporting/plots.py" not in deps.code_deps(
        "bakeoff.stages.featurize", source
    )


def test_every_package_the_code_imports_is_declared_in_pyproject():
    import sys
    from importlib.metadata import packages_distributions

    import tomllib

    declared = {
        re.split(r"[<>=!\[ ;]", dep, maxsplit=1)[0].lower().replace("_", "-")
        for dep in tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"][
            "dependencies"
        ]
    }
    distributions = packages_distributions()
    imported = set()
    for path in (PROJECT_ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    ours = {"bakeoff", "hydra_plugins"}
    third_party = sorted(m for m in imported - ours if m not in sys.stdlib_module_names)
    undeclared = {
        module: distributions.get(module)
        for module in third_party
        if not {d.lower().replace("_", "-") for d in distributions.get(module, [module])} & declared
    }
    assert not undeclared, f"imported but not in pyproject.toml's dependencies: {undeclared}"


HEAVY = ("sklearn", "scipy", "mlflow", "torch", "lightning", "matplotlib", "pandera", "optuna")
# What importing each stage module may load; anything else heavy it imports only where it
# is used (a classical contestant never loads torch; mlflow, matplotlib when it logs, draws).
ALLOWED_AT_IMPORT = {
    "contestant": {"sklearn", "scipy"},
    "ensemble": {"sklearn", "scipy"},
    "learning_curve": {"sklearn", "scipy"},
    "compare": {"scipy"},
}


def test_the_config_stage_imports_no_pandas_through_the_guard():
    """Every stage holds the workspace first; the config stage, which runs on every
    `dvc exp run`, needs nothing more, and must not pay for pandas through the guard."""
    import subprocess
    import sys

    code = "import sys, bakeoff.stages.config\nprint('pandas' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


@pytest.mark.parametrize(
    "stage", sorted(deps.stage_modules(yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())))
)
def test_a_stage_imports_no_heavy_library_it_does_not_use(stage):
    """Each stage is a process: an import it does not need is paid on every run."""
    import subprocess
    import sys

    code = (
        "import sys, importlib\n"
        f"importlib.import_module('bakeoff.stages.{stage}')\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = set(filter(None, result.stdout.strip().split(",")))
    assert loaded <= ALLOWED_AT_IMPORT.get(stage, set()), f"{stage} imports {sorted(loaded)}"
