"""The code each pipeline stage runs, computed from the source, against dvc.yaml's `deps:`.

    python -m bakeoff.cli.deps            # list what differs; exit 1 if anything does
    python -m bakeoff.cli.deps --write    # rewrite the code entries of dvc.yaml's deps

A stage depends on exactly the code it runs: its module's import closure inside `bakeoff`
(every `import`, at module level or inside a function, with the packages' `__init__.py`
files on the way). Two imports are dynamic and counted as such: a module that builds
models from config (`bakeoff.models.build_model`, which instantiates the `_target_` a
conf/model file names) or loads a saved model (`mlflow.pyfunc.load_model`, which unpickles
classes from `bakeoff.models`) depends on the whole models package, listed as its folder;
and a file or folder named by `Path(__file__).with_name(...)` (the pyfunc's models-from-code
entry, the report's templates) is code the module uses. A stage's code deps are those files and folders, sorted.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from bakeoff.fileio import write_atomic

PACKAGE = "bakeoff"
# Packages whose modules are chosen at run time (config `_target_`, unpickling a saved model):
# a stage that uses them depends on the whole folder.
DYNAMIC_PACKAGES = ("bakeoff.models",)
STAGE_COMMAND = re.compile(r"python -m (bakeoff\.[\w.]+)")


@dataclass(frozen=True)
class Source:
    """Where the package's modules are: `src/` under the project root."""

    root: Path  # the project root (dvc.yaml's folder)

    @property
    def src(self) -> Path:
        return self.root / "src"

    def path(self, module: str) -> Path | None:
        """The file of `module` (a package's __init__.py), None when it is not ours."""
        base = self.src.joinpath(*module.split("."))
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py")
        if (base / "__init__.py").is_file():
            return base / "__init__.py"
        return None

    def is_package(self, module: str) -> bool:
        return (self.src.joinpath(*module.split(".")) / "__init__.py").is_file()

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.AST, module: str, source: Source) -> set[str]:
    """Modules of ours that `tree` imports (run-time imports only: not under TYPE_CHECKING)."""
    found: set[str] = set()
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                parts = module.split(".")[: -node.level]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            # `from package import module` imports the module too
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == PACKAGE and source.path(name)}


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _dynamic(tree: ast.AST, text: str) -> tuple[set[str], set[str]]:
    """(packages used whole, sibling files named by path) that plain imports do not show."""
    packages: set[str] = set()
    files: set[str] = set()
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    if "build_model" in names or "pyfunc.load_model" in text:
        packages.update(DYNAMIC_PACKAGES)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "with_name"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            files.add(str(node.args[0].value))
    return packages, files


def closure(module: str, source: Source) -> tuple[set[Path], set[str]]:
    """The files `module` runs (itself, what it imports, transitively, and the files or
    folders beside them that they read as code: templates) and the packages it uses whole
    (dynamic imports)."""
    files: set[Path] = set()
    packages: set[str] = set()
    todo = list(_with_parents(module))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = source.path(name)
        if path is None:
            continue
        files.add(path)
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        for imported in _imported_names(tree, name, source):
            todo.extend(_with_parents(imported))
        used, named = _dynamic(tree, text)
        for package in used - packages:
            packages.add(package)
            folder = source.path(package).parent
            todo.extend(
                ".".join(p.relative_to(source.src).with_suffix("").parts)
                for p in folder.rglob("*.py")
                if p.name != "__init__.py"
            )
            todo.append(package)
        for file in named:
            sibling = path.with_name(file)
            if sibling.suffix == ".py" and sibling.is_file():
                todo.append(".".join(sibling.relative_to(source.src).with_suffix("").parts))
            elif sibling.exists():
                files.add(sibling)  # a template file or folder
    return files, packages


def code_deps(module: str, source: Source) -> list[str]:
    """dvc.yaml entries for the code `module` runs: package folders used whole, then files."""
    files, packages = closure(module, source)
    folders = {source.path(p).parent for p in packages}
    loose = {f for f in files if not any(folder in f.parents for folder in folders)}
    return sorted(source.relative(f) for f in folders) + sorted(source.relative(f) for f in loose)


def is_code(dep: str) -> bool:
    return dep.startswith("src/")


def stage_modules(dvc: dict) -> dict[str, str]:
    """Stage name -> the bakeoff module its command runs."""
    modules = {}
    for name, stage in dvc.get("stages", {}).items():
        match = STAGE_COMMAND.search(str(stage.get("cmd", "")))
        if match:
            modules[name] = match.group(1)
    return modules


def _dep_name(dep) -> str:
    return next(iter(dep)) if isinstance(dep, dict) else str(dep)


def differences(root: Path) -> dict[str, dict[str, list[str]]]:
    """Per stage: code deps dvc.yaml misses, and code deps it lists that the stage never runs."""
    import yaml

    dvc = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))
    source = Source(root)
    found = {}
    for name, module in stage_modules(dvc).items():
        listed = {
            _dep_name(d) for d in dvc["stages"][name].get("deps", []) if is_code(_dep_name(d))
        }
        wanted = set(code_deps(module, source))
        if listed != wanted:
            found[name] = {"missing": sorted(wanted - listed), "extra": sorted(listed - wanted)}
    return found


def write(root: Path) -> list[str]:
    """Rewrite each stage's code deps in dvc.yaml (other deps and comments kept); the
    stages changed."""
    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments, order and layout survive
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    path = root / "dvc.yaml"
    dvc = yaml.load(path.read_text(encoding="utf-8"))
    source = Source(root)
    changed = []
    for name, module in stage_modules(dvc).items():
        deps = dvc["stages"][name].setdefault("deps", [])
        wanted = code_deps(module, source)
        current = [_dep_name(d) for d in deps if is_code(_dep_name(d))]
        if current == wanted:
            continue
        for dep in [d for d in deps if is_code(_dep_name(d))]:
            deps.remove(dep)
        deps.extend(wanted)
        changed.append(name)
    if changed:  # dvc.yaml is the pipeline: never left half-written (e.g. Ctrl-C mid-dump)
        write_atomic(path, lambda tmp: yaml.dump(dvc, tmp))
    return changed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the project (dvc.yaml)")
    args = parser.parse_args(argv)
    if args.write:
        changed = write(args.root)
        print(f"dvc.yaml: code deps rewritten for {', '.join(changed) or 'no stage'}")
        return
    found = differences(args.root)
    for stage, diff in found.items():
        for dep in diff["missing"]:
            print(f"{stage}: runs {dep}, which dvc.yaml does not list")
        for dep in diff["extra"]:
            print(f"{stage}: lists {dep}, which it never runs")
    if found:
        print("fix: python -m bakeoff.cli.deps --write", file=sys.stderr)
        sys.exit(1)
    print("dvc.yaml lists exactly the code each stage runs")


if __name__ == "__main__":
    main()
