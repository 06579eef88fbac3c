"""Hand-built AuditResults for the reporter tests: every chart kind, every gate status, a skipped probe,
explanations with pairs, and hostile strings in every place that reaches the page."""
from __future__ import annotations

import math

import pytest

from audit.gates import Threshold, evaluate
from audit.results import AuditResult, Case, Chart, Metric, ModelInfo, ProbeResult

SCRIPT = "<script>document.title='PWNED';alert(1)</script>"
ATTR = '" onerror=alert(1) x="'
IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
SVG_ESC = "</text></svg><svg onload=alert(1)>"
PAYLOADS = (SCRIPT, ATTR, IMG, SVG_ESC)


def hostile(tag: str) -> str:
    """A label carrying every payload, tagged so a test can find where it landed."""
    return f"{tag} " + " ".join(PAYLOADS)


def model_info(spec: str = "default", **kw) -> ModelInfo:
    base = dict(
        spec=spec, source="default", path="/opt/models/all-MiniLM-L6-v2", task="zero-shot-classification",
        architecture="BertModel", fingerprint="f00dbabe", parameters=22_713_216, dtype="float32", device="cpu",
        max_length=256, tokenizer="BertTokenizerFast", vocab_size=30522, labels=("negative", "positive"),
        revision="1110a243fdf4706b3f48f1d95db1a4f5529b4d41", license="apache-2.0",
        weights_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    )
    base.update(kw)
    return ModelInfo(**base)


def make_result(*, evil: bool = False, shift: float = 0.0, spec: str = "default") -> AuditResult:
    """A realistic two-suite result. ``evil`` puts payloads in every string a model, data set or user controls;
    ``shift`` worsens the bias effect size and the flip rate (for compare tests)."""
    h = hostile if evil else (lambda tag: tag)
    effect = Metric("effect_size", 0.31 + shift, (0.12 + shift, 0.50 + shift), higher_is_better=False, n=48,
                    p_value=0.004, unit="Cohen's d", group=h("career/family"), description=h("WEAT effect size"))
    small = Metric("effect_size", 0.9, (-0.2, 1.7), higher_is_better=False, n=6, p_value=0.21, unit="Cohen's d",
                   group="science/arts", description="WEAT effect size")
    crows = Metric("stereotype_score", 57.5, (52.1, 62.8), ideal=50.0, n=120, unit="%", description="CrowS-Pairs metric")
    nan_metric = Metric("pll_gap", math.nan, None, higher_is_better=False, n=0, unit="nats")
    gates = (
        evaluate("bias.weat", effect, Threshold("effect_size", 0.2, mode="point")),  # point: one gate of each status
        evaluate("bias.weat", small, Threshold("effect_size", 0.5)),
        evaluate("bias.crows", crows, Threshold("stereotype_score", 10.0, mode="point")),
    )
    weat = ProbeResult(
        probe="bias.weat", suite="bias", title=h("WEAT on sentence templates"),
        headline=h("Career words sit closer to male names (d = 0.31)."),
        metrics=(effect, small), gates=gates[:2],
        tables={h("by_test"): [
            {"test": h("career/family"), "d": 0.31 + shift, "p": 0.004, "n": 48},
            {"test": "science/arts", "d": 0.9, "p": 0.21, "n": 6},
            {"test": "=cmd|' /C calc'!A0", "d": None, "p": math.nan, "n": 0},
        ]},
        charts=(
            Chart("bar", h("Effect size by test"), h("test"), "effect size (Cohen's d)",
                  [{"label": h("career/family"), "value": 0.31 + shift, "low": 0.12 + shift, "high": 0.50 + shift},
                   {"label": "science/arts", "value": 0.9, "low": -0.2, "high": 1.7},
                   {"label": "no value", "value": None}], alt=h("bar alt")),
            Chart("heatmap", "Association by term", h("attribute"), "target term",
                  {"rows": [h("he"), "she", "they"], "cols": ["career", h("family"), "science"],
                   "values": [[0.12, -0.08, 0.05], [-0.10, 0.14, -0.02], [0.01, 0.00, None]]}),
        ),
        cases=(Case(h("He is an engineer."), 0.42, h("largest gap"), target=h("positive"), pair=h("She is an engineer."),
                    meta={"template": h("tpl")}),),
        warnings=(h("templates are English only"),),
        params={"templates": [h("This is {term}.")], "n_samples": 10000},
        card={"what": h("Implicit association in embeddings"), "how_to_read": "0 is no association.",
              "sources": [h("Caliskan et al. 2017")], "limits": [h("English templates")]},
        seconds=1.25,
    )
    crows_probe = ProbeResult(
        probe="bias.crows", suite="bias", title="CrowS-Pairs", headline="Prefers the stereotype in 57.5% of pairs.",
        metrics=(crows, nan_metric), gates=gates[2:], card={"what": "Pseudo-log-likelihood preference."}, seconds=3.0,
    )
    long_probe = ProbeResult(
        probe="long_input.degradation", suite="long_input", title="Accuracy against input length",
        headline="Agreement with the full text falls as the needle moves past the limit.",
        metrics=(Metric("agreement", 0.88, (0.81, 0.93), higher_is_better=True, n=64, unit="share"),),
        charts=(
            Chart("line", "Agreement by length", "input length (tokens)", "agreement (share)",
                  [{"series": s, "x": x, "y": y} for s, off in (("truncate", 0.0), (h("head_tail"), 0.05))
                   for x, y in ((64, 0.99), (128, 0.95), (256, 0.9 - off), (512, 0.7 + off), (1024, 0.6 + off))]),
            Chart("scatter", "Score change against position", "needle position (share of input)", "score change",
                  [{"series": h("pos"), "x": i / 10, "y": (i - 5) / 20} for i in range(11)]),
            Chart("pie", "An unknown kind", "x", "y", [{"label": "a", "value": 1}]),
        ),
        tables={"by_length": [{"length": n, "agreement": 1 - n / 2048} for n in range(64, 64 * 70, 64)]},
        seconds=4.5,
    )
    skipped = ProbeResult(probe="multilingual.ner_names", suite="multilingual", title="Names in NER", status="skipped",
                          headline="Skipped: needs token_probs, which a zero-shot-classification model does not offer.")
    explanations = (
        {"text": h("He is an engineer."), "pair": h("She is an engineer."),
         "words": ["[CLS]", h("he"), "is", "an", "engineer", ".", "[SEP]"], "scores": [0.0, 0.61, 0.05, -0.02, 0.33, -0.1, 0.0],
         "pair_words": ["[CLS]", "she", "is", "an", "engineer", ".", "[SEP]"], "pair_scores": [0.0, -0.4, 0.04, 0.0, 0.2, -0.05, 0.0],
         "method": "ig", "target": h("positive"), "probe": "bias.weat", "delta": 0.003, "faithfulness": {"comprehensiveness": 0.71},
         "value": 0.73, "pair_value": 0.41, "prediction": h("positive"), "pair_prediction": {"label": "negative", "score": 0.59}, "converged": False, "reason": h("largest gap")},
        {"text": "orphan explanation", "words": ["orphan", "explanation"], "scores": [0.2], "probe": "gone.probe"},
    )
    return AuditResult(
        model=model_info(h(spec) if evil else spec),
        probes=(weat, crows_probe, long_probe, skipped),
        explanations=explanations,
        environment={"python": "3.11.2", "platform": "Linux", "seed": 0, "device": "cpu", "dtype": "float32",
                     "git_revision": "abc123", "command": h("audit run default --out x"),
                     "packages": {"torch": "2.13.0", "transformers": "5.23.0", "captum": None}},
        config={"intended_use": h("Sentiment triage of English support tickets"), "suites": ["bias", "long_input"]},
        timings={"load": 1.5, "bias.weat": 1.25, "total": 12.0},
        throughput={"texts_per_second": 310.5, "cache_hits": 12},
    )


@pytest.fixture
def result() -> AuditResult:
    return make_result()


@pytest.fixture
def evil() -> AuditResult:
    return make_result(evil=True)
