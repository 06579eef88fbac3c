"""The Markdown model card section: its YAML block parses back to the exact figures, and hostile strings
cannot inject HTML or break a table."""
from __future__ import annotations

import math

import yaml

import reports
from audit.results import AuditResult
from reports.markdown import md

from conftest import PAYLOADS, make_result


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    end = text.index("\n---\n", 4)
    return yaml.safe_load(text[4:end])


def test_model_index_is_one_headline_metric_per_probe_under_the_models_own_name(result: AuditResult) -> None:
    meta = front_matter(reports.render_markdown(result))
    assert meta["license"] == "apache-2.0" and "transformer-audit" in meta["tags"]
    [index] = meta["model-index"]
    assert index["name"] == "sentence-transformers/all-MiniLM-L6-v2"  # the packaged default's hub id, not "default"
    by_probe = {r["dataset"]["type"]: r["metrics"] for r in index["results"]}
    ran = [p for p in result.probes if p.status == "ok" and any(m.value is not None and math.isfinite(m.value) for m in p.metrics)]
    assert sorted(by_probe) == sorted(f"transformer-audit/{p.probe}" for p in ran)
    for p in ran:
        [metric] = by_probe[f"transformer-audit/{p.probe}"]  # compact: one figure per probe
        source = next(m for m in p.metrics if m.key == metric["name"])
        assert math.isclose(metric["value"], source.value, rel_tol=1e-6) and metric["verified"] is False
    # the headline of a gated probe is its failing gate (bias.weat: effect_size[career/family] fails at 0.2)
    assert by_probe["transformer-audit/bias.weat"][0]["name"] == "effect_size[career/family]"
    for r in index["results"]:
        assert r["task"]["type"] == "zero-shot-classification"


def test_the_hub_model_card_parser_reads_the_card(result: AuditResult) -> None:
    """huggingface_hub's own parser: front matter to CardData, model-index to EvalResults, body kept."""
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    text = reports.render_markdown(result)
    card = ModelCard(text, ignore_metadata_errors=False)
    assert card.data.model_name == "sentence-transformers/all-MiniLM-L6-v2" and card.data.license == "apache-2.0"
    name, evals = model_index_to_eval_results(card.data.to_dict()["model-index"])
    assert name == card.data.model_name and len(evals) == len(card.data.eval_results) == 3
    assert {e.dataset_type for e in evals} == {"transformer-audit/bias.weat", "transformer-audit/bias.crows",
                                              "transformer-audit/long_input.degradation"}
    assert card.text.lstrip().startswith("# Audit: sentence-transformers/all-MiniLM-L6-v2")
    front = text[: text.index("\n---\n", 4)]
    assert front.count("\n") < 60  # compact: no more the hundreds of lines of every metric


def test_hostile_strings_round_trip_through_yaml_and_are_inert_in_the_body(evil: AuditResult) -> None:
    hub = AuditResult(**{**evil.__dict__, "model": type(evil.model)(**{**evil.model.__dict__, "source": "hub"})})
    text = reports.render_markdown(hub)
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
    # the Hub model-card template's sections, in its order, after the verdict and the ranked findings
    headings = ["# Audit: sentence-transformers/all-MiniLM-L6-v2", "## Audit summary", "## Model Details", "## Uses",
                "## Bias, Risks, and Limitations", "### Recommendations", "## Evaluation",
                "### Testing Data, Factors & Metrics", "#### Testing Data", "#### Factors", "#### Metrics", "### Results",
                "#### Summary", "## Reproducibility"]
    positions = [text.index(f"\n{h}\n") for h in headings]
    assert positions == sorted(positions)
    assert "**Verdict: Not ready to sign off: 1 of 3 gates fail (bias.weat)" in text
    assert "Gates: 1 passed, 1 failed, 1 inconclusive (of 3)" in text
    assert "| bias.weat | effect\\_size\\[career/family\\] | 0.31 | \\[0.12, 0.5\\] | 0.2 (point) | fail |" in text
    assert "too few to conclude" in text and "truncated" in text


def test_yaml_block_for_a_model_without_licence_or_values() -> None:
    r = make_result()
    bare = AuditResult(**{**r.__dict__, "model": type(r.model)(**{**r.model.__dict__, "license": None}), "probes": r.probes[3:]})
    meta = front_matter(reports.render_markdown(bare))
    assert "license" not in meta and meta["model-index"][0]["results"] == []
