"""A real browser opens the reports from file://: Debian's headless Chromium.

It dumps the DOM after load (so any script a payload smuggled in would have run) and writes a
screenshot. A control page shows that the harness does see a script that runs. Skipped, with the
reason, where Chromium is not installed; CI installs it with .ci/browser.sh.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import reports
from reports.compare import render_compare

from conftest import PAYLOADS, make_result

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (bash .ci/browser.sh installs it)")


def chromium(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, env={**os.environ, "HOME": str(tmp_path)})


def console(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """Messages the page wrote to the console: errors, CSP violations, uncaught exceptions."""
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


class Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.title = ""
        self.text: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title" and len(self.tags) < 10

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        self._in_title = False

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self._in_title:
            self.title += data
        self.text.append(data)


def dump(path: Path, tmp_path: Path) -> tuple[Dom, subprocess.CompletedProcess[str]]:
    proc = chromium(path.resolve().as_uri(), tmp_path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = Dom()
    dom.feed(proc.stdout)
    return dom, proc


def test_control_page_shows_the_harness_sees_a_script_that_runs(tmp_path: Path) -> None:
    page = tmp_path / "control.html"
    page.write_text("<!DOCTYPE html><title>ok</title><p>x</p><script>document.title='PWNED';"
                    "document.body.setAttribute('data-pwned','1');console.error('boom')</script>", encoding="utf-8")
    dom, proc = dump(page, tmp_path)
    assert dom.title == "PWNED"
    assert any(a.get("data-pwned") == "1" for _, a in dom.tags)
    assert any("boom" in line for line in console(proc))


def test_payloads_do_not_run_in_a_real_browser(tmp_path: Path) -> None:
    result = make_result(evil=True)
    written = reports.write_report(result, tmp_path / "out")
    dom, proc = dump(written["html"], tmp_path)
    assert dom.title == f"Audit report: {result.model.spec}"  # the payload did not rewrite document.title
    assert not [a for _, a in dom.tags if "data-pwned" in a]
    assert not {t for t, _ in dom.tags} & {"script", "img", "iframe", "object", "embed"}
    assert not [(t, k) for t, a in dom.tags for k in a if k.startswith("on")]
    assert console(proc) == []  # no console error, no CSP violation, no blocked load
    text = "".join(dom.text)
    assert all(p in text for p in PAYLOADS)  # shown as text
    assert sum(t == "svg" for t, _ in dom.tags) == 4 and sum(t == "section" for t, _ in dom.tags) == 3 + 6  # probes that ran (a skipped one has no section) + summary, model, other explanations, limitations, reproducibility, data


def test_compare_page_in_a_real_browser(tmp_path: Path) -> None:
    page = tmp_path / "diff.html"
    # no per-case values: the change's interval comes from the two ±0.19 intervals (±0.27), so 0.6 is past 0.02
    page.write_text(render_compare(make_result(evil=True), make_result(evil=True, shift=0.6)), encoding="utf-8")
    dom, proc = dump(page, tmp_path)
    assert not {t for t, _ in dom.tags} & {"script", "img"} and console(proc) == []
    assert sum(1 for t, a in dom.tags if t == "tr" and a.get("class") == "regressed") == 1


def test_screenshot_is_written_and_not_blank(tmp_path: Path) -> None:
    written = reports.write_report(make_result(), tmp_path / "out")
    shot = tmp_path / "report.png"
    proc = chromium(written["html"].resolve().as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
                    "--hide-scrollbars")
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 2000)
    assert console(proc) == []
    image = pytest.importorskip("PIL.Image")
    colours = image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, badges and charts, not an empty page


def wide_result():
    """make_result() plus what broke the layout of the default report: a 512-word attribution row, a table of
    28 columns, an unbroken 300-character string, a 60-bar chart."""
    from audit.results import AuditResult, Chart, ProbeResult

    base = make_result()
    words = [f"word{i}" for i in range(512)]
    table = [{f"column_{j}": f"value {i}-{j}" if j % 3 else i * j / 7 for j in range(28)} for i in range(40)]
    long = ProbeResult(probe="long_input.wide", suite="long_input", title="Wide things", headline="x" * 300,
                       tables={"languages": table},
                       charts=(Chart("bar", "sixty bars", "language", "share",
                                     [{"label": f"language number {i} with a long name", "value": i / 60} for i in range(60)]),))
    explanation = {"probe": "long_input.wide", "text": " ".join(words), "words": words,
                   "scores": [((i * 7919) % 200 - 100) / 100 for i in range(512)], "method": "ig", "target": "positive"}
    return AuditResult(**{**base.__dict__, "probes": (*base.probes, long),
                          "explanations": (*base.explanations, explanation)})


MEASURE = """<!DOCTYPE html><title>measure</title><body style="margin:0">
<iframe id="f" src="report.html" style="width:{width}px;height:900px;border:0"></iframe>
<script>document.getElementById('f').onload = () => {{
  const d = document.getElementById('f').contentDocument;
  document.body.setAttribute('data-scroll', d.documentElement.scrollWidth);
  document.body.setAttribute('data-client', d.documentElement.clientWidth);
  const h2 = [...d.querySelectorAll('h2')].map(h => h.textContent.trim());
  document.body.setAttribute('data-first', h2[0]);
  document.body.setAttribute('data-sections', d.querySelectorAll('section.probe').length);
}};</script>"""


def measure(out: Path, width: int, tmp_path: Path) -> dict[str, str | None]:
    """Frame out/report.html at ``width`` px in Chromium; the wrapper page's body carries the measurements.
    Also writes a screenshot of the report at that width (kept in AUDIT_SCREENSHOTS=dir when set)."""
    (out / "measure.html").write_text(MEASURE.format(width=width), encoding="utf-8")
    proc = chromium((out / "measure.html").resolve().as_uri(), tmp_path, "--allow-file-access-from-files",
                    "--virtual-time-budget=10000", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = Dom()
    dom.feed(proc.stdout)
    body = next(a for t, a in dom.tags if t == "body")
    shot = tmp_path / f"{out.name}-{width}.png"
    proc = chromium((out / "report.html").resolve().as_uri(), tmp_path, f"--screenshot={shot}",
                    f"--window-size={width},1200", "--hide-scrollbars")
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    if os.environ.get("AUDIT_SCREENSHOTS"):  # a folder to keep the screenshots in, to look at them
        shutil.copy(shot, Path(os.environ["AUDIT_SCREENSHOTS"]) / shot.name)
    return body


@pytest.mark.parametrize("width", [1400, 400])
def test_no_horizontal_scroll_at_desktop_and_phone_width(tmp_path: Path, width: int) -> None:
    """The page's scrollWidth equals the viewport at 1,400 px and 400 px: long attribution rows wrap, wide
    tables scroll inside their own box. Measured by a wrapper page (the report itself runs no script) that
    frames the report at that width."""
    out = tmp_path / "wide"
    reports.write_report(wide_result(), out)
    body = measure(out, width, tmp_path)
    assert width - 20 <= int(body["data-client"]) <= width, body  # the frame really was that wide (less a scroll bar)
    assert body.get("data-scroll") == body.get("data-client"), body  # and nothing sticks out of it
    assert body.get("data-first") == "Executive summary"
    assert body.get("data-sections") == "4"  # the probes that ran; the skipped one has no section


@pytest.mark.parametrize("width", [1400, 400])
def test_the_default_report_holds_at_desktop_and_phone_width(tmp_path: Path, width: int) -> None:
    """The same on the report of a real default audit (the size-budget fixture): its compacted charts,
    folded tables and attribution rows fit both widths."""
    import gzip

    from audit.results import AuditResult

    out = tmp_path / "default"
    out.mkdir()
    fixture = Path(__file__).parent / "fixtures" / "default_results.json.gz"
    (out / "results.json").write_bytes(gzip.decompress(fixture.read_bytes()))
    reports.write_report(AuditResult.load(out / "results.json"), out)
    body = measure(out, width, tmp_path)
    assert width - 20 <= int(body["data-client"]) <= width, body
    assert body.get("data-scroll") == body.get("data-client"), body
    assert body.get("data-first") == "Executive summary" and body.get("data-sections") == "9"
