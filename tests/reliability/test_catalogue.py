"""The bad-input catalogue: what a user can throw at ``audit``, and what they must get back.

Each entry runs the CLI as a user would and expects either a user error (exit 2, exactly one line on
stderr naming the problem, no traceback, nothing written) or a correct result (exit 0 or 1, a
results.json that loads back and passes the entry's own check). Most entries call ``audit.cli.main`` in
this process for speed; the ``subprocess`` ones go through ``python -m audit`` with a timeout, so a hang
fails the test instead of blocking CI.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from audit.results import AuditResult

from reliability_helpers import CliRun, audit_subprocess, write_config

PROBE = "robustness.perturbation"


@dataclass
class Ctx:
    """What an entry may use: the model folders, a scratch folder and the output folder."""

    models: dict[str, Path]
    tmp: Path
    real_results: Path

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def run(self, model: str | Path, *extra: str, probe: str | None = PROBE) -> list[str]:
        """``audit run`` on one probe, quietly, without explanations or the disk cache."""
        argv = ["run", str(model), "--out", str(self.out), "--quiet", "--no-explain", "--no-cache", *extra]
        return argv + (["--probe", probe] if probe else [])

    def model(self, name: str) -> str:
        return str(self.models[name])

    def file(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path

    def with_texts(self, texts: list[str], model: str = "classifier") -> list[str]:
        """``audit run --config`` with the perturbation probe's ``texts`` parameter."""
        cfg = write_config(self.tmp, f"model: {json.dumps(self.model(model))}\nprobes:\n  {PROBE}:\n"
                                     f"    texts: {yaml_list(texts)}\nexplain: false\n")
        return ["run", "--config", str(cfg), "--out", str(self.out), "--quiet", "--no-cache"]

    def config(self, body: str, *, validate: bool = False) -> list[str]:
        cfg = write_config(self.tmp, body)
        return ["validate", str(cfg)] if validate else ["run", "--config", str(cfg), "--out", str(self.out), "--quiet", "--no-cache"]

    def results_file(self, data: Any) -> Path:
        return self.file("results.json", data if isinstance(data, str) else json.dumps(data))


@dataclass
class Entry:
    """One bad input. ``error``: the needle expected in the one-line message (exit 2); None: a correct
    result is expected (exit 0 or 1), checked by ``check(result, ctx)``."""

    id: str
    argv: Callable[[Ctx], list[str]]
    error: str | None = None
    check: Callable[[AuditResult, Ctx], None] | None = None
    check_output: Callable[[CliRun, Ctx], None] | None = None
    """For commands that print their result (``audit explain --json``) instead of writing results.json."""
    subprocess: bool = False
    extra_needles: tuple[str, ...] = field(default=())
    env: dict[str, str] | None = None
    """Environment for a ``subprocess`` entry (on top of the offline defaults)."""


# ------------------------------------------------------------------------------------------------ checks
def yaml_list(texts: list[str]) -> str:
    """A YAML flow list; characters YAML cannot hold raw (controls, DEL) are escaped, astral ones as \\U."""
    return yaml.safe_dump(texts, default_flow_style=True, width=math.inf).strip()


def texts_kept(texts: list[str]) -> Callable[[AuditResult, Ctx], None]:
    """The probe measured every text, the figures are finite shares, and the texts survive the round
    trip through results.json byte for byte (nothing stripped, nothing re-encoded)."""

    def check(result: AuditResult, ctx: Ctx) -> None:
        probe = result.probe(PROBE)
        assert probe.status == "ok"
        assert probe.params["texts"] == texts
        for m in probe.metrics:
            assert m.n == len([t for t in texts if t.strip()])
            assert m.value is not None and 0.0 <= m.value <= 1.0 and math.isfinite(m.value)
        raw = json.loads((ctx.out / "results.json").read_text(encoding="utf-8"))
        assert raw["probes"][0]["params"]["texts"] == texts

    return check


def correct_probabilities(result: AuditResult, ctx: Ctx) -> None:
    """The GPT-2 classifier without a pad token: batched probabilities equal one-at-a-time model calls."""
    import numpy as np
    import torch

    from audit.loading import load

    m = load(ctx.model("gpt2_no_pad"), progress=False, use_cache=False)
    texts = ["I love it", "a much longer sentence than the first one, with many words", "x"]
    batched = m.class_probs(texts)
    for text, row in zip(texts, batched):
        enc = m.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            alone = torch.softmax(m.model(**enc).logits[0], -1).numpy()
        np.testing.assert_allclose(row, alone, atol=1e-5)
    assert result.probe(PROBE).metrics


def labels_verbatim(result: AuditResult, ctx: Ctx) -> None:
    from reliability_helpers import HTML_LABELS

    assert result.model.labels == tuple(HTML_LABELS)
    html = (ctx.out / "report.html").read_text(encoding="utf-8")
    assert "<script>document.title" not in html and "<img src=x" not in html


CONTROL = ["DEL\x7f, C1\x85\x9b and bell\x07 and escape \x1b[31mred\x1b[0m and NUL \x00 and backspace\x08 here.", "tab\tand\rcarriage return."]
BIDI = ["The price is \u202e54.3\u202c dollars, said \u200fthe clerk.", "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd hello \u2067isolate\u2069"]
ZWJ_EMOJI = ["Family \U0001F468\u200d\U0001F469\u200d\U0001F467 went out \U0001F44D\U0001F3FD today!", "zero\u200bwidth\u200cnon\u200djoiner\ufeff"]
COMBINING = ["Cafe\u0301 na\u0131\u0308ve Z\u0335\u0301\u0358a\u0336\u0300\u035dl\u0337\u0350g\u0334\u0352o\u0338\u0346 text.", "\u1100\u1161\u11a8 e\u0301\u0301\u0301\u0301\u0301\u0301"]
LONG = ["word " * 20_000]
ODD = "bell\x07 esc\x1b[31m \u202eevil\u202c \U0001F468\u200d\U0001F469\u200d\U0001F467 e\u0301 zero\u200bwidth"


def explained(text: str) -> Callable[[CliRun, Ctx], None]:
    """``audit explain --json`` explained ``text`` (kept verbatim) with one finite score per word."""

    def check(run: CliRun, ctx: Ctx) -> None:
        example = json.loads(run.stdout)["examples"][0]
        assert example["text"] == text
        for attribution in example["attributions"]:
            scores = attribution["word_scores"]
            assert len(scores) == len(example["words"]) > 0
            assert all(math.isfinite(v) for v in scores)

    return check


def _schema(version: str) -> Callable[[Ctx], list[str]]:
    def argv(ctx: Ctx) -> list[str]:
        data = json.loads(ctx.real_results.read_text(encoding="utf-8"))
        data["schema_version"] = version
        return ["report", str(ctx.results_file(data)), "-o", str(ctx.out / "report.html")]

    return argv


CATALOGUE: list[Entry] = [
    # ---- model folders -------------------------------------------------------------------------------
    Entry("no-config-json", lambda c: c.run(c.model("no_config")), error="has no config.json", subprocess=True),
    Entry("corrupt-config-json", lambda c: c.run(c.model("corrupt_config")), error="is not valid JSON"),
    Entry("config-json-is-a-list", lambda c: c.run(c.model("list_config")), error="should hold a JSON object"),
    Entry("config-without-model-type", lambda c: c.run(c.model("config_no_model_type")), error="model_type"),
    Entry("config-with-wrong-types", lambda c: c.run(c.model("config_wrong_types")), error="config.json"),
    Entry("truncated-safetensors", lambda c: c.run(c.model("truncated_weights")), error="model.safetensors"),
    Entry("empty-safetensors", lambda c: c.run(c.model("empty_weights")), error="model.safetensors"),
    Entry("no-weights", lambda c: c.run(c.model("no_weights")), error="has no weights"),
    Entry("missing-tokenizer-files", lambda c: c.run(c.model("no_tokenizer")), error="tokenizer"),
    Entry("corrupt-tokenizer-json", lambda c: c.run(c.model("corrupt_tokenizer")), error="could not load a tokenizer"),
    Entry("empty-folder", lambda c: c.run(c.model("empty_folder")), error="has no config.json"),
    Entry("file-instead-of-folder", lambda c: c.run(c.model("a_file")), error="is a file"),
    Entry("path-that-does-not-exist", lambda c: c.run(str(c.tmp / "nowhere" / "model")), error="does not exist"),
    Entry("pickled-weights-only", lambda c: c.run(c.model("pickled")), error="--allow-pickle"),
    Entry("config-asks-for-remote-code", lambda c: c.run(c.model("remote_code")), error="--trust-remote-code"),
    Entry("symlink-out-of-the-folder", lambda c: c.run(c.model("symlink_out")), error="symlink pointing outside"),
    Entry("symlink-loop-in-the-folder", lambda c: c.run(c.model("symlink_loop")), error="symlink"),
    # ---- hostile or broken model behaviour -----------------------------------------------------------
    Entry("nan-logits", lambda c: c.run(c.model("nan_logits")), error="NaN"),
    Entry("inf-logits", lambda c: c.run(c.model("inf_logits")), error="NaN"),
    Entry("tokenizer-without-pad-token", lambda c: c.run(c.model("gpt2_no_pad")), check=correct_probabilities),
    Entry("labels-containing-html", lambda c: c.run(c.model("html_labels")), check=labels_verbatim),
    # ---- names and flags -----------------------------------------------------------------------------
    Entry("unknown-probe-close-match", lambda c: c.run(c.model("classifier"), probe="robustness.perturbaton"),
          error="did you mean 'robustness.perturbation'"),
    Entry("unknown-suite-close-match", lambda c: c.run(c.model("classifier"), "--suite", "robustnes", probe=None),
          error="did you mean 'robustness'"),
    Entry("unknown-task-close-match", lambda c: c.run(c.model("classifier"), "--task", "text-clasification"),
          error="did you mean 'text-classification'"),
    Entry("unknown-explain-method", lambda c: [a for a in c.run(c.model("classifier"), "--explain-method", "integrated-gradient")
                                               if a != "--no-explain"], error="unknown explanation method 'integrated-gradient'"),
    Entry("unknown-device", lambda c: c.run(c.model("classifier"), "--device", "tpu"), error="unknown device"),
    Entry("unknown-dtype", lambda c: c.run(c.model("classifier"), "--dtype", "fp8"), error="unknown dtype"),
    Entry("batch-size-zero", lambda c: c.run(c.model("classifier"), "--batch-size", "0"), error="--batch-size"),
    Entry("max-cases-negative", lambda c: c.run(c.model("classifier"), "--max-cases", "-1"), error="--max-cases"),
    Entry("seed-not-a-number", lambda c: c.run(c.model("classifier"), "--seed", "abc"), error="--seed"),
    # ---- configs -------------------------------------------------------------------------------------
    Entry("config-wrong-type", lambda c: c.config("seed: zero\n"), error="audit.yaml:1: seed: expected a whole number"),
    Entry("config-unknown-key", lambda c: c.config("model: default\nsedd: 3\n"), error="did you mean 'seed'"),
    Entry("config-include-cycle", lambda c: (c.file("base.yaml", "include: audit.yaml\nseed: 1\n"),
                                             c.config("include: base.yaml\nseed: 2\n", validate=True))[1], error="include cycle"),
    Entry("config-param-wrong-type", lambda c: c.config(f"probes:\n  {PROBE}:\n    texts: 5\n"), error="texts: expected"),
    Entry("config-unknown-probe", lambda c: c.config("probes:\n  robustness.perturbaton: {}\n", validate=True),
          error="did you mean 'robustness.perturbation'"),
    Entry("config-invalid-yaml", lambda c: c.config("model: [default\nseed: 1\n"), error="not valid YAML"),
    Entry("config-missing", lambda c: ["run", "--config", str(c.tmp / "missing.yaml"), "--out", str(c.out)], error="not found"),
    # ---- data: texts, templates, files ---------------------------------------------------------------
    Entry("texts-with-control-characters", lambda c: c.with_texts(CONTROL), check=texts_kept(CONTROL)),
    Entry("texts-with-bidi-marks", lambda c: c.with_texts(BIDI), check=texts_kept(BIDI)),
    Entry("texts-with-zwj-and-emoji", lambda c: c.with_texts(ZWJ_EMOJI), check=texts_kept(ZWJ_EMOJI)),
    Entry("texts-with-combining-marks", lambda c: c.with_texts(COMBINING), check=texts_kept(COMBINING)),
    Entry("text-of-100000-characters", lambda c: c.with_texts(LONG), check=texts_kept(LONG), subprocess=True),
    Entry("texts-with-lone-surrogate", lambda c: c.config(
        f"model: {json.dumps(c.model('classifier'))}\nprobes:\n  {PROBE}:\n    texts: [\"broken \\ud83d half\"]\n"),
        error="surrogate"),
    Entry("explain-text-of-100000-characters", lambda c: ["explain", c.model("classifier"), LONG[0]],
          error="over the model's limit"),
    Entry("explain-text-of-100000-characters-truncated", lambda c: ["explain", c.model("classifier"), LONG[0], "--truncate", "--json"],
          check_output=explained(LONG[0])),
    Entry("explain-text-with-every-oddity", lambda c: ["explain", c.model("classifier"), ODD, "--json"], check_output=explained(ODD)),
    Entry("explain-unknown-method-close-match", lambda c: ["explain", c.model("classifier"), "fine", "--method", "igg"],
          error="did you mean 'ig'"),
    Entry("texts-empty-list", lambda c: c.with_texts([]), error="`texts` is empty"),
    Entry("texts-only-whitespace", lambda c: c.with_texts(["   ", "\n\t"]), error="`texts` is empty"),
    Entry("template-with-unknown-slot", lambda c: c.config(
        f"model: {json.dumps(c.model('classifier'))}\nprobes:\n  bias.counterfactual:\n"
        f"    lexicon_file: {json.dumps(str(c.file('lex.yaml', 'templates:' + chr(10) + '  neutral:' + chr(10) + '    - ' + json.dumps('{persn} is at the market.') + chr(10))))}\n"
        "explain: false\n"), error="unknown slot {persn} (did you mean 'person'?)"),
    Entry("empty-lexicon-file", lambda c: c.config(
        f"model: {json.dumps(c.model('classifier'))}\nprobes:\n  bias.counterfactual:\n"
        f"    lexicon_file: {json.dumps(str(c.file('lex.yaml', '')))}\nexplain: false\n"), error="lex.yaml"),
    Entry("empty-pairs-file", lambda c: c.config(
        f"model: {json.dumps(c.model('mlm'))}\nprobes:\n  bias.crows_pairs:\n"
        f"    pairs_file: {json.dumps(str(c.file('pairs.csv', '')))}\nexplain: false\n"), error="pairs.csv"),
    Entry("pairs-file-with-header-only", lambda c: c.config(
        f"model: {json.dumps(c.model('mlm'))}\nprobes:\n  bias.crows_pairs:\n"
        f"    pairs_file: {json.dumps(str(c.file('pairs.csv', 'sent_more,sent_less,stereo_antistereo,bias_type' + chr(10))))}\n"
        "explain: false\n"), error="has no rows"),
    # ---- results, reports and the output folder ------------------------------------------------------
    Entry("results-of-another-schema-version", _schema("99.0"), error="schema version 99.0 is not supported"),
    Entry("results-without-schema-version", _schema(""), error="schema version missing is not supported"),
    Entry("results-truncated", lambda c: ["report", str(c.results_file('{"schema_version": "1.0", "probes": [')),
                                          "-o", str(c.out / "r.html")], error="not valid results JSON"),
    Entry("results-json-is-a-list", lambda c: ["report", str(c.results_file([1, 2])), "-o", str(c.out / "r.html")],
          error="not an audit results file"),
    Entry("results-file-missing", lambda c: ["report", str(c.tmp / "none.json"), "-o", str(c.out / "r.html")], error="not found"),
    Entry("report-to-an-unknown-format", lambda c: ["report", str(c.real_results), "-o", str(c.tmp / "report.pdf")],
          error="report.pdf"),
    Entry("compare-with-a-missing-run", lambda c: ["compare", str(c.real_results), str(c.tmp / "none.json"),
                                                   "-o", str(c.out / "diff.html")], error="not found"),
    Entry("compare-with-another-schema-version", lambda c: ["compare", str(c.real_results), _schema("0.1")(c)[1],
                                                            "-o", str(c.out / "diff.html")], error="not supported"),
    Entry("init-over-an-existing-config", lambda c: ["init", str(c.file("audit.yaml", "seed: 1\n"))], error="already exists"),
    Entry("out-is-a-file", lambda c: (c.file("taken", "precious\n"), c.run(c.model("classifier"), "--out", str(c.tmp / "taken")))[1],
          error="is a file"),
    Entry("out-below-a-file", lambda c: (c.file("taken", "precious\n"), c.run(c.model("classifier"), "--out", str(c.tmp / "taken" / "sub")))[1],
          error="taken"),
    Entry("baseline-missing", lambda c: c.run(c.model("classifier"), "--baseline", str(c.tmp / "old.json")), error="not found"),
]


def max_length_from_config(result: AuditResult, ctx: Ctx) -> None:
    """A tokenizer limit of -5 is skipped like 0 or 1e30: the limit in force is config.json's 64 positions."""
    assert result.model.max_length == 64 and "config.json max_position_embeddings" in result.model.provenance
    assert result.probe(PROBE).status == "ok"


def _results_with(edit: Callable[[dict[str, Any]], None], raw: Callable[[str], str] | None = None) -> Callable[[Ctx], list[str]]:
    """``audit report`` of the real results.json after ``edit`` (on the data) or ``raw`` (on the text)."""

    def argv(ctx: Ctx) -> list[str]:
        data = json.loads(ctx.real_results.read_text(encoding="utf-8"))
        edit(data)
        text = json.dumps(data)
        return ["report", str(ctx.results_file(raw(text) if raw else text)), "-o", str(ctx.out / "report.html")]

    return argv


def _set(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return edit


ALIAS_BOMB = "a: &a [" + ", ".join(["lol"] * 9) + "]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
"""Nine levels of nine aliases: 9**9 (387 million) values once expanded ("billion laughs")."""
NO_HUB = {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}
"""The hub "online" but unreachable (connection refused at once): the state of a CI runner without network."""


def _include_chain(ctx: Ctx, n: int) -> list[str]:
    for i in range(n):
        ctx.file(f"c{i}.yaml", f"include: c{i + 1}.yaml\nseed: {i}\n")
    ctx.file(f"c{n}.yaml", "seed: 1\n")
    return ["validate", str(ctx.tmp / "c0.yaml")]


def _encoder_with(ctx: Ctx, name: str, text: str | None) -> str:
    """A copy of the tiny sentence-transformers folder with one file replaced by ``text`` (None: removed)."""
    import shutil

    folder = ctx.tmp / "encoder"
    shutil.copytree(ctx.models["encoder"], folder)
    if text is None:
        (folder / name).unlink()
    else:
        (folder / name).write_text(text)
    return str(folder)


ROUND_TWO: list[Entry] = [
    # ---- model folders (issue 19) --------------------------------------------------------------------
    Entry("config-with-empty-id2label", lambda c: c.run(c.model("no_labels")), error="declares no labels"),
    Entry("config-with-empty-id2label-dry-run", lambda c: c.run(c.model("no_labels"), "--dry-run"), error="declares no labels"),
    Entry("config-with-absurd-max-position-embeddings", lambda c: c.run(c.model("huge_positions")), error="max_position_embeddings"),
    Entry("tokenizer-with-negative-model-max-length", lambda c: c.run(c.model("negative_tokenizer_limit")),
          check=max_length_from_config),
    Entry("config-json-nested-very-deeply", lambda c: c.run(c.model("deep_config")), error="nested too deeply"),
    Entry("weights-of-the-wrong-size", lambda c: c.run(c.model("wrong_size_weights")),
          error="tensor bert.embeddings.LayerNorm.bias in model.safetensors has shape [32], but config.json builds [64]"),
    Entry("modules-json-corrupt", lambda c: c.run(_encoder_with(c, "modules.json", "[{"), probe=None), error="modules.json is not valid JSON"),
    Entry("modules-json-of-numbers", lambda c: c.run(_encoder_with(c, "modules.json", "[1, 2]"), probe=None), error="as JSON objects"),
    Entry("modules-json-pointing-outside", lambda c: c.run(_encoder_with(
        c, "modules.json", '[{"type": "sentence_transformers.models.Pooling", "path": "../../.."}]'), probe=None), error="outside the model folder"),
    Entry("pooling-config-missing", lambda c: c.run(_encoder_with(c, "1_Pooling/config.json", None), probe=None), error="config.json is missing"),
    # ---- configs (issue 19) --------------------------------------------------------------------------
    Entry("yaml-alias-bomb", lambda c: c.config(ALIAS_BOMB, validate=True), error="expands to more than 100,000 values"),
    Entry("yaml-alias-bomb-run", lambda c: c.config(ALIAS_BOMB), error="expands to more than 100,000 values"),
    Entry("yaml-recursive-alias", lambda c: c.config("seed: &a [*a]\n", validate=True), error="(a cycle)"),
    Entry("yaml-nested-5000-deep", lambda c: c.config("seed: " + "[" * 5000 + "]" * 5000 + "\n", validate=True),
          error="nested more than 32 levels deep"),
    Entry("yaml-nested-40-deep", lambda c: c.config("seed: " + "[" * 40 + "]" * 40 + "\n", validate=True),
          error="nested more than 32 levels deep"),
    Entry("yaml-include-chain-of-20", lambda c: _include_chain(c, 20), error="includes nest more than 8 files deep"),
    Entry("yaml-include-fan-out", lambda c: ([c.file(f"f{i}.yaml", f"include: [{', '.join([f'f{i + 1}.yaml'] * 8)}]\n") for i in range(4)],
                                             c.file("f4.yaml", "seed: 1\n"), ["validate", str(c.tmp / "f0.yaml")])[2],
          error="read more than 64 files"),
    Entry("yaml-python-name-tag", lambda c: c.config("model: default\nseed: !!python/name:os.system x\n", validate=True),
          error="audit.yaml:2: unsupported YAML tag !!python/name:os.system"),
    Entry("yaml-python-apply-tag", lambda c: c.config("seed: !!python/object/apply:os.system [ls]\n"),
          error="audit.yaml:1: unsupported YAML tag !!python/object/apply:os.system"),
    Entry("yaml-custom-tag", lambda c: c.config("model: !env MODEL\n", validate=True), error="unsupported YAML tag !env"),
    Entry("yaml-merge-key", lambda c: c.config("base: &b {seed: 1}\n<<: *b\n", validate=True), error="unsupported YAML tag !!merge"),
    Entry("include-of-dev-zero", lambda c: c.config("include: /dev/zero\n", validate=True), error="/dev/zero is not a regular file"),
    Entry("include-of-a-folder", lambda c: (c.tmp.joinpath("folder.yaml").mkdir(), c.config("include: folder.yaml\n", validate=True))[1],
          error="is not a regular file"),
    Entry("include-of-a-pipe-nobody-writes-to", lambda c: (os.mkfifo(c.tmp / "fifo.yaml"), c.config("include: fifo.yaml\n", validate=True))[1],
          error="fifo.yaml is not a regular file"),
    Entry("include-of-a-2-mib-file", lambda c: (c.file("big.yaml", "# padding\n" * 200_000),
                                                c.config("include: big.yaml\n", validate=True))[1], error="larger than 1 MiB"),
    Entry("config-seed-of-400-digits", lambda c: c.config("seed: 1" + "0" * 400 + "\n", validate=True),
          error="seed: must be at most 9223372036854775807, got a number of about 401 digits"),
    Entry("config-seed-of-400-digits-run", lambda c: c.config("seed: 1" + "0" * 400 + "\n"), error="seed: must be at most"),
    Entry("config-seed-of-5000-digits", lambda c: c.config("seed: 1" + "0" * 5000 + "\n", validate=True), error="seed: cannot read"),
    Entry("config-max-cases-beyond-32-bits", lambda c: c.config(f"max_cases: {2**40}\n", validate=True), error="max_cases: must be at most"),
    Entry("config-threshold-of-400-digits", lambda c: c.config(
        f"probes: [{PROBE}]\nthresholds:\n  {PROBE}:\n    - {{metric: flip_rate, max: 1{'0' * 400}}}\n", validate=True),
        error="expected a finite number"),
    Entry("config-probe-parameter-of-400-digits", lambda c: c.config(
        f"probes:\n  bias.counterfactual:\n    cases_per_axis: 1{'0' * 400}\n", validate=True), error="cases_per_axis: expected int | None"),
    Entry("cli-seed-beyond-64-bits", lambda c: c.run(c.model("classifier"), "--seed", str(2**80)), error="--seed: must be at most"),
    Entry("cli-seed-negative", lambda c: c.run(c.model("classifier"), "--seed", "-1"), error="--seed: must be at least 0"),
    Entry("cli-max-cases-beyond-32-bits", lambda c: c.run(c.model("classifier"), "--max-cases", str(2**40)), error="--max-cases: must be at most"),
    Entry("cli-tolerance-nan", lambda c: c.run(c.model("classifier"), "--tolerance", "nan"), error="--tolerance"),
    Entry("cli-explain-n-steps-zero", lambda c: ["explain", c.model("classifier"), "fine", "--n-steps", "0"], error="--n-steps"),
    # ---- results files (issue 19) --------------------------------------------------------------------
    Entry("results-integer-of-5000-digits", _results_with(lambda d: None, raw=lambda t: t.replace('"n": ', '"n": 1' + "0" * 5000 + ', "x": ', 1)),
          error="probes[0].metrics[0].n: not a finite number"),
    Entry("results-ci-of-one-number", _results_with(_set("probes", 0, "metrics", 0, "ci", value=[1])), error="probes[0].metrics[0].ci: [1] is too short"),
    Entry("results-value-is-text", _results_with(_set("probes", 0, "metrics", 0, "value", value="abc")),
          error="probes[0].metrics[0].value: 'abc' is not of type"),
    Entry("results-unknown-probe-status", _results_with(_set("probes", 0, "status", value="weird")), error="probes[0].status: 'weird'"),
    Entry("results-unknown-gate-status", _results_with(_set("probes", 0, "gates", 0, "status", value="maybe")), error="probes[0].gates[0].status"),
    Entry("results-probes-is-a-mapping", _results_with(_set("probes", value={})), error="probes: {} is not of type 'array'"),
    Entry("results-infinite-value", _results_with(lambda d: None, raw=lambda t: t.replace('"value": ', '"value": Infinity, "x": ', 1)),
          error="value: not a finite number"),
    Entry("results-is-a-folder", lambda c: ["report", str(c.tmp), "-o", str(c.out / "report.html")], error="is a folder"),
    Entry("baseline-that-breaks-the-schema", lambda c: c.run(c.model("classifier"), "--baseline", str(c.results_file({
        **json.loads(c.real_results.read_text(encoding="utf-8")), "probes": {}}))), error="probes: {} is not of type"),
    Entry("compare-with-a-broken-run", lambda c: ["compare", str(c.real_results), str(c.results_file({
        **json.loads(c.real_results.read_text(encoding="utf-8")), "probes": [{"probe": 1}]})), "-o", str(c.out / "diff.html")],
          error="probes[0]"),
    # ---- outputs (issue 19) --------------------------------------------------------------------------
    Entry("report-output-is-a-folder", lambda c: (c.tmp.joinpath("r.html").mkdir(), ["report", str(c.real_results), "-o", str(c.tmp / "r.html")])[1],
          error="is a folder"),
    Entry("report-output-below-a-file", lambda c: ["report", str(c.real_results), "-o", str(c.file("taken", "x\n") / "r.html")],
          error="which is a file"),
    Entry("report-output-under-a-missing-folder", lambda c: ["report", str(c.real_results), "-o", str(c.tmp / "no-such-dir" / "r.html")],
          error="does not exist; create it first"),
    Entry("compare-output-under-a-missing-folder", lambda c: ["compare", str(c.real_results), str(c.real_results),
                                                             "-o", str(c.tmp / "no-such-dir" / "d.html")], error="does not exist; create it first"),
    Entry("gate-junit-under-a-missing-folder", lambda c: ["gate", str(c.real_results), "--junit", str(c.tmp / "no-such-dir" / "j.xml")],
          error="does not exist; create it first"),
    Entry("explain-html-under-a-missing-folder", lambda c: ["explain", c.model("classifier"), "fine", "--html",
                                                           str(c.tmp / "no-such-dir" / "h.html")], error="does not exist; create it first"),
    Entry("init-under-a-missing-folder", lambda c: ["init", str(c.tmp / "no-such-dir" / "audit.yaml")], error="does not exist; create it first"),
    Entry("report-output-is-its-input", lambda c: ["report", str(c.results_file(c.real_results.read_text())), "-o", str(c.tmp / "results.json")],
          error="is also an input"),
    Entry("compare-output-is-an-input", lambda c: ["compare", str(c.real_results), str(c.results_file(c.real_results.read_text())),
                                                   "-o", str(c.tmp / "results.json")], error="is also an input"),
    Entry("summary-is-the-runs-own-results", lambda c: c.run(c.model("classifier"), "--summary", str(c.out / "results.json")),
          error="is a file the run itself writes"),
    Entry("summary-is-the-baseline", lambda c: c.run(c.model("classifier"), "--baseline", str(c.results_file(c.real_results.read_text())),
                                                     "--summary", str(c.tmp / "results.json")), error="is also an input"),
    Entry("junit-and-summary-the-same-file", lambda c: c.run(c.model("classifier"), "--junit", str(c.tmp / "ci.txt"),
                                                             "--summary", str(c.tmp / "ci.txt")), error="are the same file"),
    Entry("junit-is-a-folder", lambda c: c.run(c.model("classifier"), "--junit", str(c.tmp)), error="--junit"),
    Entry("summary-below-a-file", lambda c: c.run(c.model("classifier"), "--summary", str(c.file("taken", "x\n") / "s.md")),
          error="which is a file"),
    Entry("explain-html-is-a-folder", lambda c: (c.tmp.joinpath("h.html").mkdir(), ["explain", c.model("classifier"), "fine", "--html", str(c.tmp / "h.html")])[1],
          error="is a folder"),
    Entry("init-a-folder", lambda c: ["init", str(c.tmp), "--force"], error="is a folder"),
    Entry("init-dev-full", lambda c: ["init", "/dev/full", "--force"], error="cannot write /dev/full (No space left on device)"),
    Entry("out-is-the-model-folder", lambda c: c.run(c.model("classifier"), "--out", c.model("classifier")), error="is inside the input"),
    Entry("out-inside-the-model-folder", lambda c: c.run(c.model("classifier"), "--out", str(Path(c.model("classifier")) / "audit")),
          error="is inside the input"),
    Entry("out-holds-someone-elses-files", lambda c: (c.tmp.joinpath("mine").mkdir(), c.tmp.joinpath("mine", "thesis.tex").write_text("x"),
                                                      c.run(c.model("classifier"), "--out", str(c.tmp / "mine")))[2], error="holds files no audit wrote"),
    Entry("out-holds-results-and-someone-elses-files", lambda c: (c.tmp.joinpath("mixed").mkdir(), c.tmp.joinpath("mixed", "results.json").write_text("{}"),
                                                                  c.tmp.joinpath("mixed", "thesis.tex").write_text("x"),
                                                                  c.run(c.model("classifier"), "--out", str(c.tmp / "mixed")))[3],
          error="holds files no audit wrote (thesis.tex)"),
    Entry("config-inside-out", lambda c: (c.out.mkdir(), c.out.joinpath("results.json").write_text("{}"),
                                          ["run", "--config", str(write_config(c.out, "model: default\n")), "--out", str(c.out)])[2],
          error="lies inside --out"),
    Entry("lexicon-file-alias-bomb", lambda c: c.config(
        f"model: {json.dumps(c.model('classifier'))}\nprobes:\n  bias.counterfactual:\n"
        f"    lexicon_file: {json.dumps(str(c.file('lex.yaml', ALIAS_BOMB)))}\nexplain: false\n"), error="expands to more than 100,000 values"),
    Entry("lexicon-file-python-tag", lambda c: c.config(
        f"model: {json.dumps(c.model('classifier'))}\nprobes:\n  bias.counterfactual:\n"
        f"    lexicon_file: {json.dumps(str(c.file('lex.yaml', 'axes: !!python/object/apply:os.system [ls]' + chr(10))))}\nexplain: false\n"),
        error="lex.yaml:1: unsupported YAML tag !!python/object/apply:os.system"),
    # ---- elsewhere (issue 19) ------------------------------------------------------------------------
    Entry("empty-model-argument", lambda c: c.run(""), error="the model argument is empty"),
    Entry("empty-model-to-explain", lambda c: ["explain", "", "fine"], error="the model name is empty"),
    Entry("hub-id-with-no-network", lambda c: c.run("someorg/no-such-model"), error="cannot reach the hub to fetch 'someorg/no-such-model'",
          subprocess=True, env=NO_HUB),
]
CATALOGUE += ROUND_TWO


def _snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file under ``folder`` (hidden ones included) and its bytes; None when it does not exist."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>" for p in folder.rglob("*")}


def _param(entry: Entry) -> Any:
    return pytest.param(entry, id=entry.id)


def test_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 30
    assert len({e.id for e in CATALOGUE}) == len(CATALOGUE)


def test_the_readme_gives_the_catalogue_size() -> None:
    """The README's reliability table states how many bad inputs are covered: keep it true."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"^\| (\d+) bad inputs", readme, re.M)
    assert stated is not None and int(stated.group(1)) == len(CATALOGUE)


@pytest.mark.parametrize("entry", [_param(e) for e in CATALOGUE])
def test_bad_input(entry: Entry, models: dict[str, Path], real_results: Path, tmp_path: Path,
                   cli: Callable[..., CliRun]) -> None:
    ctx = Ctx(models, tmp_path, real_results)
    argv = entry.argv(ctx)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    out_before = _snapshot(ctx.out)
    result = audit_subprocess(*argv, env=entry.env) if entry.subprocess else cli(*argv)
    assert "Traceback" not in result.stderr, result.stderr
    if entry.error is not None:
        assert result.code == 2, f"exit {result.code}, stderr: {result.stderr!r}"
        assert len(result.error_lines) == 1, result.stderr
        assert entry.error in result.error_lines[0], result.error_lines[0]
        for needle in entry.extra_needles:
            assert needle in result.error_lines[0], result.error_lines[0]
        assert _snapshot(ctx.out) == out_before, "an error run wrote into --out (or created it)"
        assert not list(tmp_path.glob(".out.*")), "an error run left a staging folder"
        after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        assert after == before, "an error run changed files beside it"
        assert not (models["remote_code"].parent / "PWNED").exists(), "the model's own code ran"
        return
    assert result.code in (0, 1, 4), f"exit {result.code}, stderr: {result.stderr!r}"
    if entry.check_output is not None:
        entry.check_output(result, ctx)
        return
    loaded = AuditResult.load(ctx.out / "results.json")
    assert entry.check is not None
    entry.check(loaded, ctx)


def test_debug_flag_works_after_the_command(tmp_path: Path) -> None:
    """The hint says "re-run with --debug"; users append it. Then the traceback must come out."""
    from audit.cli import main
    from audit.errors import AuditError

    with pytest.raises(AuditError, match="does not exist"):
        main(["run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"), "--debug"])
