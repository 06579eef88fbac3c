"""The Markdown model card section: its YAML block parses back to the exact figures, and hostile strings
cannot inject HTML or break a table."""
from __future__ import annotations

import math

import yaml
from conftest import PAYLOADS, make_result

import reports
from audit.results import AuditResult
from reports.markdown import md


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    end = text.index("\n---\n", 4)
    return yaml.safe_load(text[4:end])


def test_model_index_parses_back_to_every_finite_metric(result: AuditResult) -> None:
    meta = front_matter(reports.render_markdown(result))
    assert meta["license"] == "apache-2.0" and "transformer-audit" in meta["tags"]
    [index] = meta["model-index"]
    assert index["name"] == "default"
    got = {(r["dataset"]["type"], m["name"]): m["value"] for r in index["results"] for m in r["metrics"]}
    want = {(f"transformer-audit/{p.probe}", m.key): m.value for p in result.probes for m in p.metrics
            if m.value is not None and math.isfinite(m.value)}
    assert got.keys() == want.keys()
    assert all(math.isclose(got[k], want[k], rel_tol=1e-6) for k in want)
    for r in index["results"]:
        assert r["task"]["type"] == "zero-shot-classification"
        assert all(m["verified"] is False and isinstance(m["type"], str) for m in r["metrics"])


def test_hostile_strings_round_trip_through_yaml_and_are_inert_in_the_body(evil: AuditResult) -> None:
    text = reports.render_markdown(evil)
    meta = front_matter(text)
    assert meta["model-index"][0]["name"] == evil.model.spec  # yaml.safe_dump quoted what needed quoting
    titles = {r["dataset"]["name"] for r in meta["model-index"][0]["results"]}
    assert evil.probes[0].title in titles
    body = text[text.index("\n---\n", 4) + 5:]
    assert "<" not in body and ">" not in body.replace("→", "")  # all HTML characters are entities
    for payload in PAYLOADS:
        assert payload not in body


def test_table_cells_cannot_add_columns() -> None:
    cell = md("a | b\nc")
    assert "|" not in cell.replace("\\|", "") and "\n" not in cell


def test_sections_and_figures(result: AuditResult) -> None:
    text = reports.render_markdown(result)
    for heading in ("# Audit: default", "## Audit summary", "## Model details", "## Limitations", "## Reproducibility"):
        assert f"\n{heading}\n" in text, heading
    assert "Gates: 1 passed, 1 failed, 1 inconclusive (of 3)" in text
    assert "| bias.weat | effect\\_size\\[career/family\\] | 0.31 | \\[0.12, 0.5\\] | 0.2 (point) | fail |" in text
    assert "too few to conclude" in text and "truncated" in text


def test_yaml_block_for_a_model_without_licence_or_values() -> None:
    r = make_result()
    bare = AuditResult(**{**r.__dict__, "model": type(r.model)(**{**r.model.__dict__, "license": None}), "probes": r.probes[3:]})
    meta = front_matter(reports.render_markdown(bare))
    assert "license" not in meta and meta["model-index"][0]["results"] == []
