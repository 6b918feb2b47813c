"""The real-browser checker (tests/browser.py) on small hand-written pages: it must pass a
clean page and catch each kind of defect, or a passing report check would prove nothing."""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from PIL import Image

from browser import PNG_MAGIC, check_page, find_chromium, problems, require_chromium

STYLE = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


@pytest.fixture(scope="module")
def png_src() -> str:
    """A real matplotlib PNG as a data: URI, like the report's figures."""
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    ax.plot([0, 1, 2, 3], [1, 3, 2, 4], marker="o")
    ax.set_title("a small chart")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def page(tmp_path: Path, body: str, style: str = STYLE) -> Path:
    path = tmp_path / "page.html"
    path.write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width'><title>t</title>"
        f"<style>{style}</style></head><body>{body}</body></html>\n",
        encoding="utf-8",
    )
    return path


def test_clean_page_passes_and_is_screenshotted(
    chromium: str, png_src: str, tmp_path: Path
) -> None:
    html = page(
        tmp_path,
        "<h1>bakeoff</h1><p>Some text.</p>"
        f"<img alt='comparison chart' src='{png_src}' style='max-width:100%;height:auto'>"
        "<table><tr><th>model</th><th>score</th></tr><tr><td>logreg</td><td>0.9</td></tr></table>",
    )
    shot = tmp_path / "shot.png"
    result = check_page(html, shot, chromium=chromium)
    assert result["images"] == 1
    assert result["broken_images"] == []
    assert result["overflow"] == [], problems(result)
    assert not problems(result)
    assert result["viewport"]["width"] == 1280
    assert shot.read_bytes().startswith(PNG_MAGIC)
    assert shot.stat().st_size > 5_000
    assert result["screenshot_size"] == [1280, 2000]
    # A blank 1280x2000 page is already ~12 KB of PNG: look for the chart's line (matplotlib's
    # C0 blue) to know the embedded image was drawn.
    with Image.open(shot) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert sum(n for n, rgb in colours if rgb == (31, 119, 180)) > 100


def test_broken_image_is_reported_by_alt_text(chromium: str, png_src: str, tmp_path: Path) -> None:
    html = page(
        tmp_path,
        f"<img alt='good chart' src='{png_src}'>"
        "<img alt='broken chart' src='data:image/png;base64,AAAA'>",
    )
    result = check_page(html, tmp_path / "shot.png", chromium=chromium)
    assert result["images"] == 2
    assert result["broken_images"] == ["broken chart"]
    assert "image did not load: broken chart" in problems(result)


def test_horizontal_overflow_is_reported(chromium: str, tmp_path: Path) -> None:
    """Two mechanisms: a box whose right edge is past the viewport, and a <pre> that stays
    inside the viewport but whose long line spills visibly out of its narrow box."""
    long_line = "x" * 120
    html = page(
        tmp_path,
        "<div class='wide' style='width:3000px'>a block three thousand pixels wide</div>"
        f"<div style='width:400px'><pre id='log' style='overflow-x:visible'>{long_line}</pre></div>",
    )
    result = check_page(html, tmp_path / "shot.png", chromium=chromium)
    by_tag = {(o["tag"], o["id"], o["class"]): o for o in result["overflow"]}
    assert ("html", "", "") in by_tag, problems(result)  # the page scrolls sideways
    wide = by_tag[("div", "", "wide")]
    assert wide["text"] == "a block three thousand pixels wide"
    assert "right edge" in wide["reason"]
    log = by_tag[("pre", "log", "")]
    assert log["text"] == long_line[:60]
    assert "spills" in log["reason"] and "right edge" not in log["reason"]
    assert result["broken_images"] == []


def test_scrolling_wrappers_are_not_overflow(chromium: str, tmp_path: Path) -> None:
    """Wide content inside an overflow-x auto/hidden box scrolls or clips by design: the
    report's own `table{display:block;overflow-x:auto}` and a wrapper div."""
    cells = "".join(f"<td>column {i}</td>" for i in range(40))
    html = page(
        tmp_path,
        "<div class='scroller' style='display:block;overflow-x:auto'>"
        f"<table style='min-width:3000px'><tr>{cells}</tr></table></div>"
        f"<table class='report'><tr><td><div style='width:3000px'>wide cell</div></td>{cells}</tr>"
        "</table>"
        "<div style='overflow-x:hidden'><div style='width:3000px'>clipped</div></div>",
        style=STYLE + "table.report{display:block;overflow-x:auto}",
    )
    result = check_page(html, tmp_path / "shot.png", chromium=chromium)
    assert result["overflow"] == [], problems(result)
    assert result["document"]["width"] == 1280
    # ...but each box that hides columns behind a scroll is named, for pages that must not
    assert [(s["tag"], s["class"]) for s in result["scrolled"]] == [
        ("div", "scroller"),
        ("table", "report"),
        ("div", ""),
    ]


def test_find_chromium_honours_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    """No browser needed: the override wins, and a wrong one is not silently replaced."""
    monkeypatch.setenv("BAKEOFF_CHROMIUM", sys.executable)
    assert find_chromium() == sys.executable
    monkeypatch.setenv("BAKEOFF_CHROMIUM", "/nonexistent/chromium")
    assert find_chromium() is None
