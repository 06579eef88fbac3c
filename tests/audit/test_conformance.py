"""The conformance kit over every registered probe (built-in and entry-point ones), and the kit's own checks:
each rule is shown to catch a probe that breaks it."""
from __future__ import annotations

import itertools
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from audit.conformance import ConformanceError, check_probe
from audit.gates import MetricSpec, Threshold
from audit.results import Metric, ProbeResult
from probes import base
from probes.base import Probe, param, registry

LANGS = {"languages": ["en", "fr"]}  # per-language metrics exist only with languages named
PARAMS: dict[str, list[dict[str, Any]]] = {
    "multilingual.perplexity": [LANGS],
    "multilingual.tokenizer": [{}, LANGS],
    "multilingual.retrieval": [{}, {"languages": ["fr", "de"]}],
    "multilingual.consistency": [{}, {"languages": ["fr", "de"]}, {"dataset": "DATASET"}],
    "bias.group_performance": [{"label_map": {"positive": "LABEL_1", "negative": "LABEL_0"}}],  # the tiny labels
    "bias.translation_gender": [{"languages": ["de"]}],  # a tiny seq2seq model names no language pair
    "multilingual.translation_quality": [{"languages": ["de"]}],
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A labelled multilingual dataset (text, label, lang, group_id) for multilingual.consistency."""
    rows = [("The film was wonderful.", "Le film était merveilleux.", "LABEL_1"),
            ("The food was terrible.", "La nourriture était horrible.", "LABEL_0"),
            ("A happy day.", "Une journée heureuse.", "LABEL_1"),
            ("A sad night.", "Une nuit triste.", "LABEL_0")] * 3
    path = tmp_path_factory.mktemp("consistency") / "parallel.csv"
    lines = ["text,label,lang,group_id"] + [f'"{t}",{y},{lang},{i}' for i, (en, fr, y) in enumerate(rows)
                                            for lang, t in (("en", en), ("fr", fr))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_registered_probe_conforms(name, tiny_head, dataset):  # type: ignore[no-untyped-def]
    params = [{k: dataset if v == "DATASET" else v for k, v in p.items()} for p in PARAMS.get(name, [{}])]
    outcomes = check_probe(registry()[name], models=tiny_head, params=params)
    assert "ok" in outcomes.values()


THIRD_PARTY = '''
from audit.gates import MetricSpec, Threshold
from audit.results import Metric, ProbeResult
from audit.stats import bootstrap_ci
from probes.base import Probe, param
import numpy as np


class SelfSimilarity(Probe):
    """Cosine similarity of each sentence's embedding with that of the same sentence plus a trailing space."""

    name, suite, title = "thirdparty.self_similarity", "thirdparty", "Embedding stability under a trailing space"
    requires = frozenset({"embed"})
    card = {"what": "Embeds sentences with and without a trailing space.", "how_to_read": "1 is stable.",
            "sources": ["none: a packaging test"], "limits": ["Three sentences."]}
    default_thresholds = (Threshold("similarity", 0.5),)
    metric_specs = (MetricSpec("similarity", higher_is_better=True),)

    texts: tuple[str, ...] = param(("A cat sat.", "Rain is wet.", "Dogs bark loudly."), "sentences embedded")

    def _run(self, model):
        texts = self.texts[: self.max_cases or None]
        a, b = model.embed(texts), model.embed([t + " " for t in texts])
        sim = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        metric = Metric("similarity", float(sim.mean()), bootstrap_ci(sim, seed=self.seed), higher_is_better=True,
                        n=len(texts))
        return ProbeResult(self.name, self.suite, self.title, f"mean similarity {sim.mean():.3f}", metrics=(metric,))
'''


@pytest.fixture
def installed(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A tiny installed distribution (a module and a .dist-info naming it under the probes entry point group);
    the registry is reloaded with it and restored afterwards."""
    (tmp_path / "thirdparty_probe.py").write_text(THIRD_PARTY, encoding="utf-8")
    info = tmp_path / "thirdparty_probe-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-probe\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        f"[{base.ENTRY_POINT_GROUP}]\nself_similarity = thirdparty_probe:SelfSimilarity\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry()
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    monkeypatch.setattr(base, "_LOADED", False)
    monkeypatch.delitem(sys.modules, "thirdparty_probe", raising=False)
    return tmp_path


def test_an_entry_point_probe_is_registered_and_conforms(installed, tiny_head):  # type: ignore[no-untyped-def]
    cls = registry()["thirdparty.self_similarity"]
    assert cls.__module__ == "thirdparty_probe"
    assert list(cls.parameters()) == ["texts", "seed", "max_cases", "thresholds"]
    outcomes = check_probe(cls, models=tiny_head)
    assert outcomes == {"sentence-transformer": "ok", "bert-encoder": "ok"}


class _Base(Probe):
    name, suite, title = "testing.kit", "testing", "kit"
    requires = frozenset({"embed"})
    card: ClassVar[dict[str, Any]] = {"what": "w", "how_to_read": "h", "sources": ["s"], "limits": ["l"]}
    metric_specs = (MetricSpec("similarity", higher_is_better=True),)
    n: int = param(3, "sentences")

    def _run(self, model: Any) -> ProbeResult:
        v = model.embed(["a b c", "d e f", "g h i"][: self.n])
        return ProbeResult(self.name, self.suite, self.title, "", metrics=(self._metric(v),))

    def _metric(self, v: np.ndarray) -> Metric:
        return Metric("similarity", float(np.abs(v).mean()), higher_is_better=True, n=len(v))


_COUNT = itertools.count()


@pytest.fixture
def scratch(monkeypatch):  # type: ignore[no-untyped-def]
    """A registry the kit may add throwaway probes to."""
    registry()
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))


def _broken(tiny_head, **attrs: Any) -> str:  # type: ignore[no-untyped-def]
    """The kit's complaint about a copy of the conforming probe with ``attrs`` changed."""
    name = f"testing.broken_{next(_COUNT)}"
    cls = type("Broken", (_Base,), {"__module__": __name__, "name": name, **attrs})
    with pytest.raises(ConformanceError) as info:
        check_probe(cls, models=tiny_head, kinds=("bert-encoder",))
    return str(info.value)


def test_a_conforming_probe_passes(scratch, tiny_head):  # type: ignore[no-untyped-def]
    assert check_probe(_Base, models=tiny_head, kinds=("bert-encoder", "gpt2")) == {"bert-encoder": "ok"}


def test_the_kit_catches_each_broken_rule(scratch, tiny_head):  # type: ignore[no-untyped-def]
    assert "card has no 'limits'" in _broken(tiny_head, card={"what": "w", "how_to_read": "h", "sources": ["s"]})
    assert "metric 'similarity' is not declared" in _broken(tiny_head, metric_specs=(MetricSpec("other", ideal=0.0),))
    assert "declared metrics never produced on bert-encoder: other" in _broken(
        tiny_head, metric_specs=(MetricSpec("similarity", higher_is_better=True), MetricSpec("other", ideal=0.0)))
    assert "declares higher_is_better=False" in _broken(tiny_head, metric_specs=(MetricSpec("similarity", higher_is_better=False),))
    assert "declared ungrouped but reports group 'x'" in _broken(
        tiny_head, _metric=lambda self, v: Metric("similarity", 0.5, higher_is_better=True, n=3, group="x"))
    assert "default threshold on 'gap'" in _broken(tiny_head, default_thresholds=(Threshold("gap", 0.1),))
    assert "parameter 'k' has no doc" in _broken(tiny_head, __annotations__={"k": "int"}, k=param(2, ""))
    assert "results break audit/results.schema.json" in _broken(
        tiny_head, _metric=lambda self, v: Metric("similarity", 0.5, higher_is_better=True, n=3, unit=3))
    assert "ran on none of the tiny models" in _broken(tiny_head, requires=frozenset({"class_probs"}))


def test_the_kit_counts_tokens_at_the_forward_boundary(scratch, tiny_head):  # type: ignore[no-untyped-def]
    """A probe that cannot fit is reported (the budget is honoured by not running it, which the kit calls broken)."""
    cls = type("Long", (_Base,), {"__module__": __name__})
    with pytest.raises(ConformanceError, match="status skipped: Not run"):
        check_probe(cls, models=tiny_head, kinds=("bert-encoder",), budget=4)


def test_params_that_do_not_round_trip_are_caught(scratch, tiny_head):  # type: ignore[no-untyped-def]
    """A probe recording a value that, read back from a config, no longer means the same."""
    def get_params(self):  # type: ignore[no-untyped-def]
        return {**Probe.get_params(self), "n": "three"}

    assert "do not round-trip" in _broken(tiny_head, get_params=get_params)


def test_a_probe_written_the_old_way_keeps_working_with_a_deprecation_warning(scratch, tiny_head):  # type: ignore[no-untyped-def]
    from audit.runner import run_audit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        class OldWay(_Base):
            name = "testing.old_way"

            def __init__(self, *, n: int = 3, seed: int = 0, max_cases: int | None = None,
                         thresholds: list[Threshold] | None = None) -> None:
                super().__init__(seed=seed, max_cases=max_cases, thresholds=thresholds)
                self.n = n

    assert any(issubclass(w.category, DeprecationWarning) and "declare its parameters" in str(w.message) for w in caught)
    assert list(OldWay.parameters()) == ["n", "seed", "max_cases", "thresholds"]
    base.register_probe(OldWay)
    result = run_audit(tiny_head("bert-encoder"), probes=["testing.old_way"], probe_params={"testing.old_way": {"n": 2}},
                       explain=False, progress=False)
    assert result.probe("testing.old_way").params == {"n": 2, "seed": 0, "max_cases": None, "thresholds": None}
    with pytest.raises(ConformanceError, match="parameter 'n' has no doc"):
        check_probe(OldWay, models=tiny_head, kinds=("bert-encoder",))


def test_parameters_are_declared_once_and_read_everywhere():
    """The runner, the config reader, `audit init` and results all read Probe.parameters()."""
    from audit.config import probe_parameters, starter_config
    from audit.errors import AuditError
    from probes.smoke import PerturbationProbe

    params = PerturbationProbe.parameters()
    assert list(params) == ["texts", "perturbations", "seed", "max_cases", "thresholds"]
    assert params["perturbations"].doc.startswith("edits to apply") and params["perturbations"].default is None
    assert probe_parameters(PerturbationProbe)["texts"] == (list[str] | None)
    assert "robustness.perturbation" in starter_config() and "texts, perturbations" in starter_config()
    assert PerturbationProbe(texts=["a"]).get_params() == {"texts": ["a"], "perturbations": None, "seed": 0,
                                                           "max_cases": None, "thresholds": None}
    with pytest.raises(AuditError, match=r"has no parameter 'text' \(did you mean 'texts'\?\); its parameters: texts,"):
        PerturbationProbe.check_parameters({"text": ["a"]})
    with pytest.raises(TypeError):
        PerturbationProbe(0)  # type: ignore[misc]  # keyword-only, like the constructors they replace


def test_sequence_parameters_are_stored_as_lists():
    from probes.long_input.needle import NeedleProbe

    probe = NeedleProbe(depths=(0.0, 1.0))
    assert probe.depths == [0.0, 1.0] and isinstance(probe.strategies, list)
    assert NeedleProbe().strategies is not NeedleProbe().strategies  # no shared default


def test_readme_probe_example_is_the_entry_point_example():
    """The README's 'Adding a probe' example is this file's third-party probe, so it stays runnable."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- probe-example -->")[1].split("```python")[1].split("```")[0]
    assert textwrap.dedent(block).strip() == THIRD_PARTY.strip()


def test_a_threshold_on_an_undeclared_metric_is_refused_before_any_forward_pass(tiny, monkeypatch):  # type: ignore[no-untyped-def]
    from audit.errors import AuditError
    from audit.runner import run_audit

    model = tiny("bert-classifier")
    monkeypatch.setattr(model.engine, "_forward", lambda *a: pytest.fail("the model ran"))
    with pytest.raises(AuditError, match=r"has no metric 'flip_rat' \(did you mean 'flip_rate'\?\); its gateable metrics"):
        run_audit(model, probes=["robustness.perturbation"], thresholds={"robustness.perturbation": [Threshold("flip_rat", 0.1)]},
                  explain=False, progress=False)
    with pytest.raises(AuditError, match=r"they_share of bias\.pronoun_occupation has no good direction"):
        run_audit(tiny("bert-mlm"), probes=["bias.pronoun_occupation"],
                  thresholds={"bias.pronoun_occupation": [Threshold("they_share", 0.1)]}, explain=False, progress=False)
