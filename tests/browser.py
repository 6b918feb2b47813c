"""Open an HTML page in a real headless Chromium and report what a reader would see broken.

The project's report (reports/<dataset>/report.html) is one self-contained page: images are
``data:`` URIs, nothing is fetched. Parsing the HTML cannot tell whether an embedded PNG
decodes or whether a wide table pushes the page sideways; a browser can. ``check_page`` runs
Debian's ``chromium`` twice, with no Python packages beyond pytest:

1. ``--dump-dom`` on a copy of the page with a ``<script>`` injected at the end of ``<head>``.
   On ``load`` (images loaded), then fonts ready, then one more task, it measures the page
   and only then appends the JSON result as a hidden ``<pre id="__bakeoff_check">``, which
   we parse out of the dumped DOM. Measuring before writing keeps the result element out of
   what is measured.
2. ``--screenshot`` of an unmodified copy, with the window as tall as the page (capped), so
   the PNG shows the whole page as measured.

Both copies live in a fresh temporary directory and host names resolve nowhere, so anything
the page links (relative path or URL) fails to load and shows up as a broken image: the check
also proves the page is self-contained. Lazy-loaded images below the window would count as
not loaded too; the report does not use ``loading=lazy``. Headless Chromium will not open a
window narrower than 500 px, so ``check_page`` refuses widths below that rather than measure
a wider page than asked for.

``require_chromium()`` is the tests' entry point: the binary's path, else a skip (or, with
``BAKEOFF_REQUIRE_BROWSER=1`` as CI sets, a failure) that says how to install it.
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ENV = "BAKEOFF_CHROMIUM"  # a binary name or path; overrides the search on PATH
REQUIRE_ENV = "BAKEOFF_REQUIRE_BROWSER"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = (
    "install Chromium (Debian/Ubuntu: `apt-get install --no-install-recommends chromium`; "
    ".ci/run installs it), or point BAKEOFF_CHROMIUM at a Chromium/Chrome binary"
)
RESULT_ID = "__bakeoff_check"
MAX_SCREENSHOT_HEIGHT = 16384  # Chromium's largest texture side; taller pages are cut off
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Flags for both calls. --no-sandbox: CI runs as root, where Chromium's sandbox refuses to
# start. --disable-dev-shm-usage: containers often have a 64 MB /dev/shm, too small for the
# renderer. --hide-scrollbars: the layout width is exactly the window width in both calls
# (a classic scrollbar would take 15 px in one and not the other). The resolver rule makes
# any network fetch fail at once instead of waiting for a timeout.
COMMON_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)

# Runs in the page. Everything measured is read before the result element is added.
CHECK_SCRIPT = """
(() => {
  const ID = "__bakeoff_check";
  const root = document.documentElement;
  const text = (el) => (el.textContent || "").slice(0, 2000).replace(/\\s+/g, " ").trim().slice(0, 60);
  const entry = (el, reason) => ({
    tag: el.tagName.toLowerCase(), id: el.id || "",
    class: (el.getAttribute("class") || "").trim(), text: text(el), reason,
  });
  // Whether the children of `el` are clipped or scrolled horizontally by `el` or an ancestor
  // below <body>; html/body do not count: their overflow applies to the whole viewport, and
  // content cut off there is lost to the reader.
  const clips = new Map();
  const clipsChildren = (el) => {
    if (!el || el === document.body || el === root) return false;
    if (!clips.has(el)) {
      clips.set(el, getComputedStyle(el).overflowX !== "visible" || clipsChildren(el.parentElement));
    }
    return clips.get(el);
  };
  const measure = () => {
    const vw = root.clientWidth;
    const images = Array.from(document.querySelectorAll("img"));
    const broken = images
      .filter((img) => !img.complete || img.naturalWidth === 0)
      .map((img) => img.alt || "(no alt) " + (img.getAttribute("src") || "").slice(0, 60));
    const overflow = [];
    if (root.scrollWidth > vw) {
      const reason = `document is ${root.scrollWidth}px wide, viewport ${vw}px`;
      overflow.push({tag: "html", id: root.id || "", class: "", text: "", reason});
    }
    const found = [];  // [element, reasons, only spills]
    for (const el of document.body.querySelectorAll("*")) {
      if (el.getClientRects().length === 0) continue;  // not rendered (display:none, <script>)
      const reasons = [];
      const right = el.getBoundingClientRect().right + window.scrollX;
      if (right > vw + 1 && !clipsChildren(el.parentElement)) {
        reasons.push(`right edge at ${Math.round(right)}px, viewport ${vw}px`);
      }
      const spills = getComputedStyle(el).overflowX === "visible" && el.scrollWidth > el.clientWidth + 1;
      if (spills) reasons.push(`content ${el.scrollWidth}px wide spills out of its ${el.clientWidth}px box`);
      if (reasons.length) found.push([el, reasons, spills && reasons.length === 1]);
    }
    // A container that only spills because something inside it is reported is noise: name
    // the innermost cause. This never hides all of a subtree's problems, so a page that has
    // one still fails.
    for (const [el, reasons, onlySpills] of found) {
      if (onlySpills && found.some(([other]) => other !== el && el.contains(other))) continue;
      overflow.push(entry(el, reasons.join("; ")));
    }
    // Boxes that scroll or clip sideways and hold more than they show: nothing is lost to the
    // page, but a reader must scroll to see every column.
    const scrolled = [];
    for (const el of document.body.querySelectorAll("*")) {
      if (el.getClientRects().length === 0) continue;
      if (getComputedStyle(el).overflowX !== "visible" && el.scrollWidth > el.clientWidth + 1) {
        scrolled.push(entry(el, `shows ${el.clientWidth}px of ${el.scrollWidth}px`));
      }
    }
    return {
      images: images.length, broken_images: broken, overflow, scrolled,
      viewport: {width: vw, height: root.clientHeight},
      document: {width: root.scrollWidth, height: root.scrollHeight},
    };
  };
  // Not requestAnimationFrame: under --virtual-time-budget headless Chromium may never run
  // it. Reading the geometry forces a synchronous layout anyway.
  const settled = () => new Promise((resolve) => setTimeout(resolve, 0));
  addEventListener("load", () => {
    (document.fonts ? document.fonts.ready : Promise.resolve()).then(settled).then(() => {
      let result;
      try { result = measure(); } catch (e) { result = {error: String((e && e.stack) || e)}; }
      const pre = document.createElement("pre");
      pre.id = ID;
      pre.hidden = true;
      pre.textContent = JSON.stringify(result);
      (document.body || root).appendChild(pre);
    });
  });
})();
"""


class BrowserError(RuntimeError):
    """Chromium failed, timed out, or the page produced no result."""


def find_chromium() -> str | None:
    """$BAKEOFF_CHROMIUM if set (no fallback, so a wrong setting is not silently ignored),
    else the first of chromium, chromium-browser, google-chrome on PATH."""
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        return shutil.which(override)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium binary, else skip the calling test, or fail it under
    BAKEOFF_REQUIRE_BROWSER=1 (CI, where a skip would hide that nothing was checked)."""
    found = find_chromium()
    if found:
        return found
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        message = f"{CHROMIUM_ENV}={override!r} is not an executable; {INSTALL_HINT}"
    else:
        message = f"no Chromium on PATH (tried {', '.join(CHROMIUM_NAMES)}); {INSTALL_HINT}"
    if os.environ.get(REQUIRE_ENV, "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} ({REQUIRE_ENV} is set)", pytrace=False)
    pytest.skip(message)


def _inject(page: bytes, script: str) -> bytes:
    """The page with `script` at the end of <head> (or at the very start when there is no
    </head>; the parser then puts it in an implied head). Bytes in, bytes out: the page's own
    encoding is left alone."""
    tag = f"<script>{script}</script>".encode()
    match = re.search(rb"</head\s*>", page, re.IGNORECASE)
    at = match.start() if match else 0
    return page[:at] + tag + page[at:]


def _quiet(stderr: str) -> str:
    """Chromium's stderr without the D-Bus noise of a container, last 4000 characters."""
    lines = [line for line in stderr.splitlines() if "dbus" not in line.lower()]
    return "\n".join(lines)[-4000:]


def _run(args: list[str], timeout: float) -> tuple[str, float]:
    """Run Chromium in its own process group, so a timeout kills its renderer and GPU
    helpers too; return stdout and the seconds taken."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise BrowserError(
            f"chromium timed out after {timeout:.0f}s: {' '.join(args)}\n{_quiet(stderr)}"
        ) from None
    if proc.returncode != 0:
        raise BrowserError(
            f"chromium exited with {proc.returncode}: {' '.join(args)}\n{_quiet(stderr)}"
        )
    return stdout, time.perf_counter() - start


def check_page(
    html: Path,
    screenshot: Path,
    width: int = 1280,
    height: int = 2000,
    *,
    chromium: str | None = None,
    timeout: float = 60.0,
    settle_ms: int = 5000,
) -> dict[str, Any]:
    """Open `html` in headless Chromium with a `width` x `height` window; save a full-page
    PNG to `screenshot`; return what the page measured:

    * ``images``: number of ``<img>`` elements;
    * ``broken_images``: alt text (else ``"(no alt) <src prefix>"``) of each image that did
      not load (``!complete || naturalWidth == 0``);
    * ``overflow``: one dict per horizontal overflow, keys ``tag``, ``id``, ``class``,
      ``text`` (first 60 characters), ``reason``. A ``tag == "html"`` entry means the document
      is wider than the viewport; others are elements whose right edge lies beyond the viewport
      (unless an ancestor scrolls or clips them), or whose content spills out of their box with
      ``overflow-x: visible`` (a container that spills only because of a reported descendant
      is left out). Scroll/clip containers (auto, scroll, hidden) are fine.
    * ``viewport`` and ``document``: ``{"width", "height"}`` in CSS pixels, as measured;
    * ``screenshot``: the PNG's path, ``screenshot_size``: its ``[width, height]``;
    * ``seconds``: wall time of the two Chromium calls, ``{"measure", "screenshot"}``.

    `settle_ms` is Chromium's --virtual-time-budget: virtual time runs ahead when the page
    is idle, so this costs far less wall time than it says. Raises BrowserError with
    Chromium's stderr when it fails or times out.
    """
    binary = chromium or find_chromium()
    if binary is None:
        raise BrowserError(f"no Chromium found; {INSTALL_HINT}")
    page = Path(html).read_bytes()
    screenshot = Path(screenshot)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bakeoff-browser-", ignore_cleanup_errors=True) as d:
        tmp = Path(d)
        checked, plain = tmp / "check.html", tmp / "page.html"
        checked.write_bytes(_inject(page, CHECK_SCRIPT))
        plain.write_bytes(page)

        dom, measure_s = _run(
            [
                binary,
                *COMMON_FLAGS,
                f"--user-data-dir={tmp / 'profile-measure'}",
                f"--window-size={width},{height}",
                f"--virtual-time-budget={settle_ms}",
                "--dump-dom",
                checked.as_uri(),
            ],
            timeout,
        )
        match = re.search(rf'<pre[^>]*\bid="{RESULT_ID}"[^>]*>(.*?)</pre>', dom, re.DOTALL)
        if match is None:
            raise BrowserError(
                f"the check script wrote no result into {html} (page error, or it never "
                f"finished loading within {settle_ms} ms of virtual time); dumped DOM ends: "
                f"{dom[-500:]!r}"
            )
        result: dict[str, Any] = json.loads(htmllib.unescape(match.group(1)))
        if "error" in result:
            raise BrowserError(f"the check script failed in {html}: {result['error']}")
        if result["viewport"]["width"] != width:
            # Headless Chromium will not make a window narrower than 500 px: a phone-width
            # check would silently measure a wider page.
            raise BrowserError(
                f"asked for a {width} px wide window, the page got {result['viewport']['width']} "
                "px (headless Chromium's windows are at least 500 px wide)"
            )

        # As tall as the page, so the capture is the full page, not the first screen.
        shot_height = min(max(height, result["document"]["height"]), MAX_SCREENSHOT_HEIGHT)
        screenshot.unlink(missing_ok=True)
        _, shot_s = _run(
            [
                binary,
                *COMMON_FLAGS,
                f"--user-data-dir={tmp / 'profile-screenshot'}",
                f"--window-size={width},{shot_height}",
                f"--virtual-time-budget={settle_ms}",
                "--run-all-compositor-stages-before-draw",
                f"--screenshot={screenshot.resolve()}",
                plain.as_uri(),
            ],
            timeout,
        )
    head = screenshot.read_bytes()[:24] if screenshot.exists() else b""
    if not head.startswith(PNG_MAGIC):
        raise BrowserError(f"chromium wrote no PNG screenshot to {screenshot}")
    result["screenshot"] = str(screenshot)
    result["screenshot_size"] = [
        int.from_bytes(head[16:20], "big"),
        int.from_bytes(head[20:24], "big"),
    ]
    result["seconds"] = {"measure": round(measure_s, 2), "screenshot": round(shot_s, 2)}
    return result


def problems(result: dict[str, Any]) -> list[str]:
    """One line per broken image and per overflow, for assertion messages."""
    lines = [f"image did not load: {alt}" for alt in result["broken_images"]]
    for o in result["overflow"]:
        name = o["tag"] + (f"#{o['id']}" if o["id"] else "")
        name += "".join(f".{c}" for c in o["class"].split())
        lines.append(f"overflow: <{name}> {o['text']!r}: {o['reason']}")
    return lines
