"""The reporter on a real run: a probe and captum explanations on a tiny classifier, through results.json."""
from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

import reports
from audit.results import AuditResult


@pytest.fixture(scope="module")
def real(tiny, tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    import audit

    result = audit.run(tiny("bert-classifier"), probes=["robustness.perturbation"], explain=True, max_explanations=2, max_cases=8,
                       progress=False, config={"intended_use": "tests"})
    path = tmp_path_factory.mktemp("real") / "results.json"
    result.save(path)
    return AuditResult.load(path)


def test_report_of_a_real_run(real: AuditResult, tmp_path: Path) -> None:
    written = reports.write_report(real, tmp_path)
    html = written["html"].read_text(encoding="utf-8")
    probe = real.probe("robustness.perturbation")
    for m in probe.metrics:
        assert f"{m.value:.4g}" in html and f"[{m.ci[0]:.4g}, {m.ci[1]:.4g}]" in html
    for g in probe.gates:
        assert f'badge {g.status}"' in html
    assert f"{real.model.max_length} tokens" in html and real.model.fingerprint in html
    assert html.count('<svg class="chart"') == len(probe.charts)
    explained = [e for e in real.explanations if e.get("words")]
    assert explained, "the run explained no case"
    section = html[html.index("Attributions for the worst cases"):]
    rows = [unescape(re.sub(r"<[^>]+>", "", r)) for r in re.findall(r'<div class="tokens">(.*?)</div>', section, re.DOTALL)]
    for e in explained:  # every word shown, shaded (in a span with its score) or bare (white)
        words = [w for w in e["words"] if w]
        assert any(all(w in r for w in words[:5]) for r in rows), words[:5]
    assert re.search(r'<span class="[pn][1-8]" title="-?[\d.e+-]+">', section)  # some words carry a shade and a score
    rows = (tmp_path / "data/robustness.perturbation.by_edit.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 + len(probe.tables["by_edit"])
