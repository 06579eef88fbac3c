"""bias.group_performance: figures against fairlearn and brute-force loops, gate error rates by simulation,
the slice search on shuffled labels, and the probe end to end (fake classifier, default model, CLI)."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

fairlearn_metrics = pytest.importorskip("fairlearn.metrics")

from audit.errors import AuditError  # noqa: E402
from audit.gates import Threshold, evaluate  # noqa: E402
from audit.results import Metric  # noqa: E402
from probes.bias import group_metrics as gm  # noqa: E402
from probes.bias import slices  # noqa: E402
from probes.bias.group_performance import GroupPerformanceProbe  # noqa: E402
from probes.bias.lexicon import load_lexicon  # noqa: E402


class FakeClassifier:
    """A classifier whose probabilities are looked up by text: predictions the test controls exactly."""

    task = "text-classification"
    capabilities = frozenset({"class_probs"})

    def __init__(self, labels: tuple[str, ...], probs_by_text: dict[str, np.ndarray]) -> None:
        self.labels = labels
        self.probs_by_text = probs_by_text
        self.info = SimpleNamespace(spec="fake")

    def label_index(self, label: str | int) -> int:
        return self.labels.index(label) if isinstance(label, str) else int(label)

    def class_probs(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.probs_by_text[t] for t in texts])


def _random_data(seed: int, n: int = 400, n_groups: int = 3, n_classes: int = 2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, n_classes, n))
    g = rng.integers(0, n_groups, n)
    return y, pred, g


def _point(y, pred, g, cls):
    x = gm.indicators(y, pred, cls)
    d = gm.disparities(gm.group_counts(x, np.arange(len(y))[None, :], g[None, :], int(g.max()) + 1))
    return {k: float(v[0]) for k, v in d.items()}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_classes", [2, 3])
def test_disparities_equal_fairlearn(seed, n_classes):
    """Oracle: fairlearn's metric functions (between groups), one-vs-rest for each class, to 1e-12."""
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import accuracy_score

    y, pred, g = _random_data(seed, n_groups=2 + seed % 3, n_classes=n_classes)
    for cls in range(n_classes) if n_classes > 2 else [1]:
        yb, pb = (y == cls).astype(int), (pred == cls).astype(int)
        ours = _point(y, pred, g, cls)
        fl = fairlearn_metrics
        assert ours["demographic_parity_difference"] == pytest.approx(fl.demographic_parity_difference(yb, pb, sensitive_features=g), abs=1e-12)
        assert ours["demographic_parity_ratio"] == pytest.approx(fl.demographic_parity_ratio(yb, pb, sensitive_features=g), abs=1e-12)
        assert ours["equalized_odds_difference"] == pytest.approx(fl.equalized_odds_difference(yb, pb, sensitive_features=g), abs=1e-12)
        assert ours["equal_opportunity_difference"] == pytest.approx(fl.equal_opportunity_difference(yb, pb, sensitive_features=g), abs=1e-12)
    mf = MetricFrame(metrics=accuracy_score, y_true=y, y_pred=pred, sensitive_features=g)
    assert _point(y, pred, g, 1)["worst_group_gap"] == pytest.approx(mf.overall - mf.group_min(), abs=1e-12)


def test_per_group_rates_equal_fairlearn_and_ece_a_loop():
    """Per-group accuracy, selection rate, FPR, FNR against fairlearn's MetricFrame; ECE against a loop."""
    from fairlearn.metrics import MetricFrame, false_negative_rate, false_positive_rate, selection_rate
    from sklearn.metrics import accuracy_score

    y, pred, g = _random_data(7, n=300)
    rng = np.random.default_rng(7)
    p1 = np.clip(np.where(pred == 1, 0.5 + rng.random(300) / 2, 0.5 - rng.random(300) / 2), 0, 1)
    probs = np.stack([1 - p1, p1], axis=1)
    pred = probs.argmax(1)
    texts = [f"row {i}" for i in range(300)]
    model = FakeClassifier(("negative", "positive"), dict(zip(texts, probs)))
    data = {"text": texts, "label": ["positive" if v else "negative" for v in y], "grp": [f"g{k}" for k in g]}
    import pandas as pd

    result = GroupPerformanceProbe(data=pd.DataFrame(data), group_columns=["grp"], slice_search=False, n_resamples=200).run(model)
    mf = MetricFrame(metrics={"accuracy": accuracy_score, "selection_rate": selection_rate, "fpr": false_positive_rate,
                              "fnr": false_negative_rate}, y_true=y, y_pred=pred, sensitive_features=np.array([f"g{k}" for k in g]))
    for name in ("accuracy", "selection_rate", "fpr", "fnr"):
        for grp, value in mf.by_group[name].items():
            assert result.metric(name, f"grp={grp}").value == pytest.approx(value, abs=1e-12)

    def ece_loop(pr, yy, bins=10):
        total = 0.0
        for b in range(bins):
            lo, hi = b / bins, (b + 1) / bins
            members = [i for i in range(len(yy)) if (lo < pr[i].max() <= hi) or (b == 0 and pr[i].max() == 0)]
            if members:
                acc = sum(int(pr[i].argmax() == yy[i]) for i in members) / len(members)
                conf = sum(pr[i].max() for i in members) / len(members)
                total += len(members) / len(yy) * abs(acc - conf)
        return total

    for k in range(3):
        m = g == k
        assert result.metric("ece", f"grp=g{k}").value == pytest.approx(ece_loop(probs[m], y[m]), abs=1e-12)
    assert result.metric("mean_score", "grp=g0").value == pytest.approx(probs[g == 0, 1].mean(), abs=1e-12)


def _simulate(gap: float, rng: np.random.Generator, n: int = 300):
    """Three groups; group 0's predictions are right with probability 0.8 − gap, the others 0.8."""
    g = rng.integers(0, 3, n)
    y = rng.integers(0, 2, n)
    right = rng.random(n) < np.where(g == 0, 0.8 - gap, 0.8)
    return y, np.where(right, y, 1 - y), g


def _gate(d: gm.Disparity, value: float) -> str:
    metric = Metric(d.name, d.value, d.ci, higher_is_better=d.name in gm.LOWER_IS_WORSE, n=100)
    return evaluate("p", metric, Threshold(d.name, value, mode="ci_all")).status


def test_gates_under_parity_pass_or_are_inconclusive_at_one_minus_alpha():
    """500 datasets where predictions do not depend on the group: the strictest interval gate (difference ≤ 0,
    ratio ≥ 1) must not fail in more than α = 5% of them; the permutation tests reject at about α."""
    rng = np.random.default_rng(0)
    fails = {k: 0 for k in gm.DISPARITIES}
    rejects = {k: 0 for k in gm.DISPARITIES}
    runs = 500
    for s in range(runs):
        for d in gm.analyse(*_simulate(0.0, rng), 1, n_resamples=200, seed=s):
            fails[d.name] += _gate(d, 1.0 if d.name in gm.LOWER_IS_WORSE else 0.0) == "fail"
            rejects[d.name] += d.p_value < 0.05
    print("parity, share of 500 datasets where the gate fails:", {k: v / runs for k, v in fails.items()})
    print("parity, share where the permutation test rejects at 0.05:", {k: v / runs for k, v in rejects.items()})
    for k in gm.DISPARITIES:
        assert fails[k] / runs <= 0.05, k
        assert rejects[k] / runs <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs), k


def test_injected_gap_fails_the_gate_with_stated_power():
    """Group 0 is right 20 points less often (accuracy 0.6 vs 0.8, n = 900, three groups of about 300): in truth its TPR is
    0.6 against 0.8 and its FPR 0.4 against 0.2, so the equalized-odds difference is 0.2 and a gate at 0.1 must
    fail; the worst-group gap is 0.733 − 0.6 = 0.133, gated at 0. Power measured over 200 datasets (printed);
    the test asserts at least 80%."""
    rng = np.random.default_rng(1)
    runs = 200
    fails = {"equalized_odds_difference": 0, "worst_group_gap": 0}
    for s in range(runs):
        for d in gm.analyse(*_simulate(0.2, rng, n=900), 1, n_resamples=200, seed=s):
            if d.name in fails:
                fails[d.name] += _gate(d, 0.1 if d.name == "equalized_odds_difference" else 0.0) == "fail"
    power = {k: v / runs for k, v in fails.items()}
    print("injected 0.2 accuracy gap, power:", power)
    assert power["equalized_odds_difference"] >= 0.8
    assert power["worst_group_gap"] >= 0.8


def _texts(rng: np.random.Generator, n: int) -> tuple[list[str], dict[str, list[str]]]:
    subjects = ["my mother", "my father", "this woman", "this man", "the neighbour", "Jamal", "Emily"]
    tails = ["left.", "was very happy with the service today.", "called about the order that never came."]
    texts, region, age = [], [], []
    for _ in range(n):
        texts.append(f"{subjects[rng.integers(len(subjects))].capitalize()} {tails[rng.integers(len(tails))]}")
        region.append(str(rng.choice(["north", "south"])))
        age.append(str(rng.choice(["young", "old"])))
    return texts, {"region": region, "age": age}


def test_slice_search_finds_nothing_on_shuffled_labels():
    """Correctness independent of everything (shuffled labels): every null is true, so with BY at q = 0.05 a
    dataset has any significant slice in at most 5% of 200 datasets (plus binomial noise)."""
    rng = np.random.default_rng(2)
    lex = load_lexicon(seed=0)
    runs, hits, tested = 200, 0, []
    for _ in range(runs):
        texts, groups = _texts(rng, 400)
        correct = rng.random(400) < 0.8
        rows = slices.search(correct, slices.candidates(texts, groups, lex, None), min_size=10, alpha=0.05)
        tested.append(len(rows))
        hits += any(r["significant"] for r in rows)
    print(f"shuffled labels: {hits} of {runs} datasets with a significant slice; {np.mean(tested):.1f} slices tested each")
    assert min(tested) >= 8
    assert hits / runs <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)


def test_slice_search_finds_an_injected_slice():
    rng = np.random.default_rng(3)
    lex = load_lexicon(seed=0)
    texts, groups = _texts(rng, 600)
    women = np.array([t.startswith(("My mother", "This woman")) for t in texts])
    correct = rng.random(600) < np.where(women, 0.5, 0.9)
    rows = slices.search(correct, slices.candidates(texts, groups, lex, None), min_size=10, alpha=0.05)
    assert rows[0]["significant"] and rows[0]["slice"] == "gender: mentions female"


def _labelled(n_per_group: dict[str, int], acc: dict[str, float], seed: int = 0):
    rng = np.random.default_rng(seed)
    texts, labels, groups, probs = [], [], [], {}
    for grp, n in n_per_group.items():
        for i in range(n):
            t = f"{grp} text {i}"
            y = int(rng.integers(0, 2))
            right = rng.random() < acc[grp]
            p = 0.9 if (y == 1) == right else 0.1
            texts.append(t), labels.append(["negative", "positive"][y]), groups.append(grp)
            probs[t] = np.array([1 - p, p])
    return {"text": texts, "label": labels, "dialect": groups}, FakeClassifier(("negative", "positive"), probs)


def test_small_groups_are_flagged_never_ranked_and_the_worst_group_gives_the_cases():
    data, model = _labelled({"a": 200, "b": 200, "tiny": 5}, {"a": 0.95, "b": 0.6, "tiny": 0.0})
    import datasets

    r = GroupPerformanceProbe(data=datasets.Dataset.from_dict(data), group_columns=["dialect"], n_resamples=200).run(model)
    rows = {row["group"]: row for row in r.tables["groups"]}
    assert rows["tiny"]["conclusive"] is False and "q_vs_rest" not in rows["tiny"] and rows["b"]["q_vs_rest"] < 0.05
    assert "dialect='b'" in r.headline and "'tiny'" not in r.headline
    assert all(c.meta["group"] == "b" and c.meta["label"] != c.meta["predicted"] for c in r.cases) and r.cases
    assert {d["groups"] for d in r.tables["disparities"]} == {2}  # tiny is left out of every disparity
    gates = {g.metric: g.status for g in r.gates}
    assert gates["equalized_odds_difference[dialect]"] == "fail" and gates["worst_group_gap[dialect]"] == "fail"
    assert any("'tiny'" in w for w in r.warnings)
    assert r.params["data"].startswith("<Dataset")
    json.dumps(r.params)


def test_groups_inferred_from_the_text_state_their_coverage():
    texts = ["My mother called.", "My father called.", "Someone called.", "My mother and my father called."] * 30
    model = FakeClassifier(("negative", "positive"), {t: np.array([0.3, 0.7]) for t in texts})
    data = {"text": texts, "label": ["positive"] * len(texts)}
    r = GroupPerformanceProbe(data=data_frame(data), infer_groups=["gender"], slice_search=False, n_resamples=200).run(model)
    assert {row["group"] for row in r.tables["groups"]} == {"female", "male"}
    assert any("inferred" in w and "50%" in w for w in r.warnings)


def data_frame(cols):
    import pandas as pd

    return pd.DataFrame(cols)


def test_user_errors_are_one_line():
    data, model = _labelled({"a": 20, "b": 20}, {"a": 0.9, "b": 0.9})
    with pytest.raises(AuditError, match=r"no column 'dialekt'.*its columns: text, label, dialect"):
        GroupPerformanceProbe(data=data_frame(data), group_columns=["dialekt"]).validate(model)
    with pytest.raises(AuditError, match="name the group column"):
        GroupPerformanceProbe(data=data_frame(data)).validate(model)
    bad = {**data, "label": ["pos"] * 40}
    with pytest.raises(AuditError, match=r"'pos'.*label_map"):
        GroupPerformanceProbe(data=data_frame(bad), group_columns=["dialect"]).validate(model)
    GroupPerformanceProbe(data=data_frame(bad), group_columns=["dialect"], label_map={"pos": "positive"}).validate(model)


def test_without_data_a_non_sentiment_classifier_is_skipped_not_broken():
    model = FakeClassifier(("LABEL_0", "LABEL_1"), {})
    probe = GroupPerformanceProbe()
    assert not probe.supports(model)
    with pytest.raises(AuditError, match="--data"):
        probe.validate(model)


def test_default_model_on_the_generated_example(default_model):
    r = GroupPerformanceProbe(n_resamples=200).run(default_model)
    assert r.status == "ok" and "generated example" in r.headline and "worst group is gender=" in r.headline
    assert {row["group"] for row in r.tables["groups"]} == {"female", "male", "non-binary"}
    assert all(row["n"] == 360 for row in r.tables["groups"])
    assert {g.metric for g in r.gates} == {"equalized_odds_difference[gender]", "worst_group_gap[gender]"}
    assert r.charts and all("low" in item for item in r.charts[0].data)
    assert r.tables["slices"]


def _eval_csv(tmp_path, n=120):
    rng = np.random.default_rng(0)
    rows = ["text,label,dialect"] + [f"sentence number {i} about day {i % 7},LABEL_{rng.integers(0, 2)},{'ab'[i % 2]}"
                                     for i in range(n)]
    path = tmp_path / "eval.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_cli_data_flags_and_config_equivalent(tmp_path, tiny_path, capsys, monkeypatch):
    """`audit run MODEL --probe bias.group_performance --data eval.csv --group-column dialect`, and the same from
    a config with a threshold on a disparity metric; a wrong column is one line, exit 2, nothing written."""
    from audit.cli import main

    model = str(tiny_path("bert-classifier"))
    data = _eval_csv(tmp_path)
    capsys.readouterr()
    code = main(["run", model, "--probe", "bias.group_performance", "--data", str(data), "--group-column", "dialect",
                 "--no-explain", "--no-cache", "--out", str(tmp_path / "out"), "--quiet"])
    out = capsys.readouterr().out
    assert code in (0, 1, 4) and "worst group is dialect=" in out
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    probe = next(p for p in results["probes"] if p["probe"] == "bias.group_performance")
    assert probe["params"]["data"] == str(data) and probe["params"]["group_columns"] == ["dialect"]
    assert {g["metric"] for g in probe["gates"]} == {"equalized_odds_difference[dialect]", "worst_group_gap[dialect]"}
    html = (tmp_path / "out" / "report.html").read_text()
    assert "dialect: accuracy per group" in html and "equalized_odds_difference" in html

    cfg = tmp_path / "audit.yaml"  # data named relative to the config file, run from elsewhere
    cfg.write_text(f"model: {json.dumps(model)}\nprobes:\n  bias.group_performance:\n    data: eval.csv\n"
                   "    group_columns: [dialect]\nthresholds:\n  bias.group_performance:\n"
                   "    - {metric: demographic_parity_difference, max: 1.0, mode: ci_all}\nexplain: false\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)
    code = main(["run", "--config", str(cfg), "--no-cache", "--out", str(tmp_path / "out2"), "--quiet"])
    assert code == 0, capsys.readouterr()
    probe = next(p for p in json.loads((tmp_path / "out2" / "results.json").read_text())["probes"]
                 if p["probe"] == "bias.group_performance")
    assert [(g["metric"], g["status"]) for g in probe["gates"]] == [("demographic_parity_difference[dialect]", "pass")]

    capsys.readouterr()
    code = main(["run", model, "--probe", "bias.group_performance", "--data", str(data), "--group-column", "dialekt",
                 "--no-explain", "--no-cache", "--out", str(tmp_path / "bad"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no column 'dialekt' (its columns: text, label, dialect)" in err
    assert not (tmp_path / "bad").exists()


def test_python_api_takes_a_dataframe_and_saves_results(tmp_path, tiny_path):
    import pandas as pd

    import audit
    from audit.results import AuditResult

    df = pd.read_csv(_eval_csv(tmp_path))
    result = audit.run(str(tiny_path("bert-classifier")), probes=["bias.group_performance"], explain=False, use_cache=False,
                       progress=False, probe_params={"bias.group_performance": {"data": df, "group_columns": ["dialect"]}})
    saved = AuditResult.load(result.save(tmp_path / "results.json"))
    probe = next(p for p in saved.probes if p.probe == "bias.group_performance")
    assert probe.params["data"].startswith("<DataFrame, 120 rows, content ")
    changed = df.assign(label=df["label"].iloc[::-1].to_numpy())
    from audit.data_sources import describe

    assert describe(changed) != describe(df) and describe(df.copy()) == describe(df)
    assert {row["group"] for row in probe.tables["groups"]} == {"a", "b"}


def test_multiclass_rates_and_disparities_are_one_vs_rest():
    """Three classes: each class's FPR/FNR per group and its disparities equal fairlearn on the binarised labels."""
    from fairlearn.metrics import MetricFrame, false_negative_rate, false_positive_rate

    y, pred, g = _random_data(11, n=450, n_groups=3, n_classes=3)
    labels = ("anger", "joy", "sadness")
    texts = [f"t{i}" for i in range(len(y))]
    probs = {t: np.eye(3)[p] * 0.7 + 0.1 for t, p in zip(texts, pred)}
    model = FakeClassifier(labels, probs)
    data = data_frame({"text": texts, "label": [labels[v] for v in y], "grp": [f"g{k}" for k in g]})
    r = GroupPerformanceProbe(data=data, group_columns=["grp"], slice_search=False, n_resamples=200).run(model)
    for c, name in enumerate(labels):
        yb, pb = (y == c).astype(int), (pred == c).astype(int)
        mf = MetricFrame(metrics={"fpr": false_positive_rate, "fnr": false_negative_rate}, y_true=yb, y_pred=pb,
                         sensitive_features=np.array([f"g{k}" for k in g]))
        for grp, value in mf.by_group["fpr"].items():
            assert r.metric("fpr", f"grp={grp}/class {name}").value == pytest.approx(value, abs=1e-12)
            assert r.metric("fnr", f"grp={grp}/class {name}").value == pytest.approx(mf.by_group["fnr"][grp], abs=1e-12)
        eo = fairlearn_metrics.equalized_odds_difference(yb, pb, sensitive_features=g)
        assert r.metric("equalized_odds_difference", f"grp/class {name}").value == pytest.approx(eo, abs=1e-12)


def test_slice_candidates_cover_crossings_lengths_terms_and_languages():
    texts = ["My mother is here.", "Mon père est là.", "This man called me about the broken heating again."]
    groups = {"region": ["n", "s", "n"], "age": ["y", "y", "o"]}
    kinds = {}
    for kind, name, mask in slices.candidates(texts, groups, load_lexicon(seed=0), ["en", "fr", "en"]):
        kinds.setdefault(kind, {})[name] = mask.tolist()
    assert kinds["crossing"]["age=y & region=n"] == [True, False, False]
    assert kinds["language"] == {"detected language en": [True, False, True], "detected language fr": [False, True, False]}
    assert kinds["identity terms"]["gender: mentions female"] == [True, False, False]
    assert kinds["identity terms"]["gender: mentions male"] == [False, False, True]
    assert sum(sum(m) for m in kinds["length"].values()) == 3  # the length bins partition the rows
    one_language = slices.candidates(texts, {}, None, ["en"] * 3)
    assert not [c for c in one_language if c[0] == "language"]
