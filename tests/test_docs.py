"""The README stays a README (short, every link resolving), and docs/benchmarks.md is what
benchmarks/render.py makes of the results: figures are never typed by hand."""

from __future__ import annotations

import re
import subprocess
import sys

from pipeline_project import PROJECT_ROOT


def test_the_readme_is_short_and_its_links_resolve():
    readme = PROJECT_ROOT / "README.md"
    assert readme.stat().st_size <= 10_240, "README.md over 10 KB: move details to docs/"
    text = readme.read_text()
    assert text.index("make run") < text.index("make test") < 800
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    missing = [link for link in links if not (PROJECT_ROOT / link).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
    for doc in (PROJECT_ROOT / "docs").glob("*.md"):
        targets = re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", doc.read_text())
        broken = [t for t in targets if not (doc.parent / t).exists()]
        assert not broken, f"{doc.name} links to {broken}"


def test_docs_benchmarks_is_generated_from_the_results():
    result = subprocess.run(
        [sys.executable, "benchmarks/render.py", "--check"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
