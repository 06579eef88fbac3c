"""Untrusted reports: strings chosen by a model (its labels) or a data set (its texts) reach the report,
and none of them may run script there; the report loads nothing from the network. Checked in headless
Chromium (when /usr/bin/chromium exists), through a recording proxy that sees every request it makes.

tests/reports checks the renderer's escaping on hand-built results; this checks a real ``audit run`` and
``audit explain --html`` end to end, in a browser.
"""
from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reliability_helpers import HTML_LABELS, CliRun, write_config

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs headless Chromium at /usr/bin/chromium")

PAYLOAD_TEXTS = [
    "Great hotel <script>document.title='PWNED'</script> and friendly staff.",
    "The room was <img src=x onerror=\"document.body.dataset.pwned=1\"> awful.",
    "Quote \" onmouseover=\"document.body.dataset.pwned=1\" x=\" breaks attributes?",
    "Closing tags </textarea></style></script></svg><svg onload=\"document.body.dataset.pwned=1\"> everywhere.",
    "A link <a href=\"javascript:document.body.dataset.pwned=1\">click</a> and <iframe src=\"https://example.com/\"></iframe>.",
    "Styles <style>@import url(https://example.com/x.css);</style><link rel=stylesheet href=https://example.com/y.css> too.",
]
CHROME_BACKGROUND = ("google.com", "googleapis.com", "gvt1.com", "gstatic.com")
"""Hosts Chromium itself calls at start-up (time, component updates): not the page's requests."""


@contextlib.contextmanager
def _recording_proxy() -> Iterator[tuple[int, list[str]]]:
    """An HTTP proxy on localhost that answers nothing and records the first line of every request."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(32)
    seen: list[str] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    seen.append(conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1"))
                except OSError:
                    seen.append("?")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], seen
    finally:
        server.close()


def _page_requests(seen: list[str]) -> list[str]:
    """The requests left once Chromium's own start-up calls are set aside ("GET http://host/..." or
    "CONNECT host:443")."""
    def host(line: str) -> str:
        target = line.split(" ")[1] if " " in line else line
        return target.split("//")[-1].split("/")[0].split(":")[0]

    return [line for line in seen if not host(line).endswith(CHROME_BACKGROUND)]


def browse(page: Path, profile: Path) -> tuple[str, list[str]]:
    """Open ``page`` in headless Chromium, let its scripts run, and return the final DOM and every
    network request the page made."""
    with _recording_proxy() as (port, seen):
        proc = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
             f"--proxy-server=http://127.0.0.1:{port}", "--proxy-bypass-list=<-loopback>", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--virtual-time-budget=3000",
             "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=90)
    return proc.stdout, _page_requests(seen)


def _ran_script(dom: str) -> bool:
    return "<title>PWNED</title>" in dom or 'data-pwned="1"' in dom


def test_the_browser_check_can_fail(tmp_path: Path) -> None:
    """A page that does run the payloads and load a remote image is caught by both checks."""
    page = tmp_path / "bad.html"
    page.write_text(f"<html><head><title>t</title></head><body>{PAYLOAD_TEXTS[0]}{PAYLOAD_TEXTS[1]}"
                    "<img src='http://example.com/pixel.png'></body></html>")
    dom, requests = browse(page, tmp_path / "profile")
    assert _ran_script(dom)
    assert any("example.com" in r for r in requests)


@pytest.fixture(scope="module")
def hostile_run(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``audit run`` of a model whose labels are HTML, on texts that are HTML, explanations on."""
    from audit.cli import main

    tmp = tmp_path_factory.mktemp("hostile-run")
    cfg = write_config(tmp, f"model: {json.dumps(str(models['html_labels']))}\nprobes:\n  robustness.perturbation:\n"
                            f"    texts: {json.dumps(PAYLOAD_TEXTS)}\nexplain: {{method: ig, max_cases: 4}}\n")
    code = main(["run", "--config", str(cfg), "--out", str(tmp / "out"), "--quiet", "--no-cache"])
    assert code in (0, 1, 4)
    return tmp / "out"


def test_report_of_hostile_strings_runs_no_script_and_loads_nothing(hostile_run: Path, tmp_path: Path) -> None:
    results = json.loads((hostile_run / "results.json").read_text())
    assert results["model"]["labels"] == HTML_LABELS  # the hostile strings are in the results, verbatim
    assert results["explanations"], "no explanation reached the report"
    dom, requests = browse(hostile_run / "report.html", tmp_path / "profile")
    assert "</html>" in dom, "Chromium did not render the report"
    assert not _ran_script(dom)
    assert requests == []
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in dom  # shown as text, not dropped


def test_explain_html_of_hostile_strings_runs_no_script_and_loads_nothing(models: dict[str, Path], tmp_path: Path,
                                                                          cli: Callable[..., CliRun]) -> None:
    page = tmp_path / "explain.html"
    r = cli("explain", str(models["html_labels"]), PAYLOAD_TEXTS[0], "--pair", PAYLOAD_TEXTS[1], "--html", str(page))
    assert r.code == 0, r.stderr
    dom, requests = browse(page, tmp_path / "profile")
    assert "</html>" in dom and not _ran_script(dom)
    assert requests == []
    assert "PWNED" in dom  # the text is on the page, as text
