"""The HTML report in a real browser: headless Chromium loads a rendered report and a probe
script reports console errors, uncaught errors, images that did not decode and dead nav links.

Needs Chromium (Debian: ``apt-get install -y chromium``); skipped without it. The probe goes into
a copy of the report, so the report under test is exactly what greenprune wrote.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from greenprune.report import render_reports
from tests.unit.test_study_figures import study_results

CHROMIUM = Path(os.environ.get("GREENPRUNE_CHROMIUM", "/usr/bin/chromium"))

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(),
                                reason=f"{CHROMIUM} is absent (Debian: apt-get install -y chromium)")

# Runs first in <head>: records errors from then on; on load (after every image has loaded or
# failed) it writes its findings into the DOM, which --dump-dom prints.
PROBE = """<script>
(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    var t = e.target;
    errors.push(t && t !== window && t.tagName ? "failed to load <" + t.tagName.toLowerCase() + ">"
                                               : "uncaught: " + e.message);
  }, true);
  window.addEventListener("unhandledrejection", function (e) { errors.push("unhandled rejection: " + e.reason); });
  var original = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
  window.addEventListener("load", function () {
    var images = Array.prototype.map.call(document.images, function (img) {
      return {alt: img.alt.slice(0, 120), complete: img.complete, width: img.naturalWidth, height: img.naturalHeight};
    });
    var dead = Array.prototype.filter.call(document.querySelectorAll('a[href^="#"]'), function (a) {
      return !document.getElementById(a.getAttribute("href").slice(1));
    }).map(function (a) { return a.getAttribute("href"); });
    var out = document.createElement("pre");
    out.id = "gp-probe";
    out.textContent = JSON.stringify({images: images, errors: errors, dead_links: dead});
    document.body.appendChild(out);
  });
})();
</script>"""


def browse(page: Path, work: Path) -> dict[str, Any]:
    """Load a probed copy of ``page`` in headless Chromium; return the probe's findings."""
    probed = work / f"probed-{page.name}"
    text = page.read_text(encoding="utf-8")
    probed.write_text(re.sub(r"<head>", lambda m: m.group(0) + PROBE, text, count=1), encoding="utf-8")
    args = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
            f"--user-data-dir={work / 'profile'}", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=3000", "--dump-dom", probed.resolve().as_uri()]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="gp-probe">(.*?)</pre>', proc.stdout, re.S)
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    assert found, f"the probe wrote nothing (chromium exit {proc.returncode}): {proc.stderr[-2000:]}"
    return {**json.loads(html.unescape(found.group(1))), "console": console}


def test_probe_catches_broken_pages(tmp_path: Path) -> None:
    """The probe itself: a page with every fault it must catch."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><title>x</title></head><body><a href="#nowhere">x</a>'
                    '<img alt="bad" src="data:image/png;base64,AAAA"><img alt="gone" src="missing.png">'
                    '<script>console.error("boom"); undefinedFunction();</script></body></html>')
    found = browse(page, tmp_path)
    assert [i["width"] for i in found["images"]] == [0, 0]
    assert any("boom" in e for e in found["errors"]) and any("undefinedFunction" in e for e in found["errors"])
    assert any("failed to load <img>" in e for e in found["errors"])
    assert found["dead_links"] == ["#nowhere"]


def test_report_renders_cleanly_in_chromium(tmp_path: Path) -> None:
    out = tmp_path / "report"
    _, page = render_reports(study_results(), out)
    found = browse(page, tmp_path)
    assert found["errors"] == [], "\n".join(found["errors"] + found["console"])
    figures = page.read_text(encoding="utf-8").count("<figure>")
    assert figures >= 15 and len(found["images"]) == figures  # comparison (5) + study (10)
    broken = [i["alt"] for i in found["images"] if not i["complete"] or i["width"] == 0]
    assert broken == [], f"images that did not load: {broken}"
    assert found["dead_links"] == []


STUDY_REPORT = Path(__file__).resolve().parents[2] / "reports" / "study-cpu" / "report.html"


@pytest.mark.skipif(not STUDY_REPORT.is_file(), reason=f"{STUDY_REPORT} has not been generated")
def test_the_shipped_study_report_renders_cleanly_in_chromium(tmp_path: Path) -> None:
    """The CPU-scale study in reports/study-cpu (real runs, committed): self-contained, every
    figure decodes, no console errors, every nav link has its target."""
    found = browse(STUDY_REPORT, tmp_path)
    assert found["errors"] == [], "\n".join(found["errors"] + found["console"])
    figures = STUDY_REPORT.read_text(encoding="utf-8").count("<figure>")
    assert figures >= 15 and len(found["images"]) == figures
    broken = [i["alt"] for i in found["images"] if not i["complete"] or i["width"] == 0]
    assert broken == [], f"images that did not load: {broken}"
    assert found["dead_links"] == []
