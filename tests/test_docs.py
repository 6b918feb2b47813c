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


def test_a_result_with_a_chart_is_drawn_from_its_numeric_rows_and_linked(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "benchmarks"))
    import render

    rows = [
        {"rows": 1000, "model": "a", "fit s": 0.5},
        {"rows": 10000, "model": "a", "fit s": 4.0},
        {"rows": 1000, "model": "b", "fit s": 2.0},
        {"rows": None, "model": "b", "fit s": 9.0},  # the wide table: not on a rows axis
    ]
    result = {
        "title": "t",
        "date": "2026-12-02",
        "hardware": {"cpu": "x", "cores": 2},
        "command": "c",
        "tables": [{"caption": "pipeline", "rows": [{"s": 1}]}, {"caption": "each", "rows": rows}],
        "chart": {"table": 1, "x": "rows", "y": "fit s", "series": "model", "file": "c.svg"},
    }
    assert render.chart_points(result) == {"a": [(1000, 0.5), (10000, 4.0)], "b": [(1000, 2.0)]}
    text = "\n".join(render.current(result))
    assert text.index("*each*") < text.index("![fit s against rows](c.svg)")
    # Drawn twice, the same bytes: so a check can redraw it and compare.
    drawn = render.charts([(tmp_path / "r.json", result)], docs=tmp_path)
    assert render.stale_charts(drawn) == ["c.svg"]  # not drawn yet
    render.draw_chart(result, tmp_path / "c.svg")
    assert render.stale_charts(drawn) == []
    rows[0]["fit s"] = 0.6  # the result changed, the chart did not
    assert render.stale_charts(drawn) == ["c.svg"]
