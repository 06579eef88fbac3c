"""explain(): one batched prediction pass fixes the targets, then each method attributes every example
(texts and their counterfactual pairs together), IG's completeness is checked per example, and
faithfulness is measured on the same quantity."""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from audit.errors import AuditError, unknown_name
from audit.explain import faithfulness as faith
from audit.explain.batching import Budget, Job, score_rows
from audit.explain.contrast import MIN_SHARED, Contrast, contrast_job, own_rows, span_words
from audit.explain.methods import PER_EXAMPLE_SURROGATE, Options, Output, attribute
from audit.explain.names import COMPLETENESS_TOL, METHODS
from audit.explain.result import Attribution, Explanation, ExplanationSet
from audit.explain.targets import Head, Target
from audit.explain.words import Encoded, encode_windows
from audit.results import Case, _clean
from audit.tasks import explanation_head
from audit.tasks.base import AuditedModel
from audit.tasks.text_classification import ClassifierHead
from audit.tasks.zero_shot import ZeroShotHead

BASELINES = ("pad", "mask")
MAX_STEP_FACTOR = 8
"""n_steps is doubled at most until it reaches this multiple of the starting count."""
FLOAT_FLOOR = 1e-6
"""Gaps below FLOAT_FLOOR · max(1, |F(x)|, |F(x′)|) are float32 rounding, not missing steps: they count as complete."""


def _methods(method: str | Sequence[str]) -> tuple[str, ...]:
    names = (method,) if isinstance(method, str) else tuple(method)
    if not names:
        raise AuditError("no explanation method given; choose from: " + ", ".join(METHODS))
    for m in names:
        if m not in METHODS:
            raise unknown_name("explanation method", m, METHODS)
    return tuple(dict.fromkeys(names))


def _baseline_id(model: AuditedModel, baseline: str) -> int:
    if baseline not in BASELINES:
        raise unknown_name("baseline", baseline, BASELINES)
    if baseline == "mask":
        if model.tokenizer.mask_token_id is None:
            raise AuditError(f"{model.info.spec} has no mask token; use baseline='pad'")
        return int(model.tokenizer.mask_token_id)
    return model.engine.pad_id


def _per_text(value: Any, n: int, what: str) -> list[Any]:
    if value is None or isinstance(value, (str, int)):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise AuditError(f"{what} has {len(value)} entries for {n} texts; give one per text (or a single value)")
    return value


def explain(
    model: AuditedModel,
    texts: Sequence[str],
    *,
    method: str | Sequence[str] = "ig",
    target: str | Sequence[str | None] | None = None,
    n_steps: int = 50,
    baseline: str = "pad",
    internal_batch_size: int | None = None,
    completeness_tol: float = COMPLETENESS_TOL,
    pairs: Sequence[str | None] | None = None,
    truncate: bool = False,
    window: int = 1,
    n_samples: int = 25,
    faithfulness: bool = True,
    token_budget: int | None = None,
    seed: int = 0,
    question: str | Sequence[str | None] | None = None,
    pair_question: str | Sequence[str | None] | None = None,
    randomisation_check: bool = False,
    windows: bool = False,
) -> ExplanationSet:
    """Attribute the model's output on each text to its tokens and words.

    ``target``: a label (classifiers; ``LABEL@k`` for a token classifier), a token (language models) or a
    reference text (sentence encoders); one for all texts or one per text; None = the prediction.
    ``pairs``: counterfactual sides, one per text (or None), explained for the same target.
    ``method``: one name or several (then rank agreement between them is reported).
    ``question``: question-answering models only, the question(s) asked of the texts (the contexts); a target
    there is an answer text of the context (default: the model's best span). ``pair_question``: the question
    of each pair's context (default: the same question). Sequence-to-sequence: ``target`` is the target text
    (default: the model's greedy output). ``randomisation_check``: also attribute the texts with a copy of the
    model whose top layer is re-initialised and report the rank correlation (audit.explain.sanity).
    ``windows`` (classifiers and zero-shot): explain a text over the model's limit window by window, as the
    window strategies read it (one example per window, each window's own prediction and log-odds).
    """
    t0 = time.perf_counter()
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise AuditError("no texts to explain; give at least one")
    methods = _methods(method)
    if n_steps < 1 or n_samples < 1 or window < 1:
        raise AuditError("n_steps, n_samples and window must be positive integers")
    if not completeness_tol > 0:
        raise AuditError(f"completeness_tol must be positive, got {completeness_tol}")
    base_id = _baseline_id(model, baseline)
    head = explanation_head(model)
    targets = _per_text(target, len(texts), "target")
    pair_list = _per_text(pairs, len(texts), "pairs") if pairs is not None else [None] * len(texts)

    questions = _per_text(question, len(texts), "question") if question is not None else None
    pair_questions = _per_text(pair_question, len(texts), "pair_question") if pair_question is not None else questions
    if pair_question is not None and questions is not None:
        pair_questions = [pq if pq is not None else q for pq, q in zip(pair_questions, questions)]  # type: ignore[arg-type]
    if windows:
        if not isinstance(head, (ClassifierHead, ZeroShotHead)) or pairs is not None or question is not None:
            raise AuditError("per-window explanations (windows=True, --windows) apply to text classifiers and zero-shot "
                             "models, for texts without a pair or a question")
        per = encode_windows(model, texts)
        targets = [t for t, w in zip(targets, per) for _ in w]
        encoded = [e for w in per for e in w]
        texts = [e.text for e in encoded]
        resolved = _window_targets(head, encoded, targets, Budget(token_budget or model.engine.token_budget, head.device))
        pair_list = [None] * len(texts)
    else:
        encoded = head.encode(texts, targets, questions, truncate=truncate)
        resolved = head.resolve(encoded, targets)
    with_pair = [i for i, p in enumerate(pair_list) if p is not None]
    pair_enc = head.encode([p for p in pair_list if p is not None], [targets[i] for i in with_pair],
                           [pair_questions[i] for i in with_pair] if pair_questions is not None else None,
                           truncate=truncate, pairs=True) if with_pair else []
    pair_targets = head.follow([resolved[i] for i in with_pair], pair_enc) if with_pair else []
    jobs = [Job(e, t) for e, t in zip(encoded, resolved)] + [Job(e, t) for e, t in zip(pair_enc, pair_targets)]

    budget = Budget(token_budget or model.engine.token_budget, head.device)
    grad_budget = Budget(max(64, budget.tokens // 2), head.device)
    ends = score_rows(head, [j.enc.ids for j in jobs] + [_baseline_row(j, base_id) for j in jobs],
                      [j.target for j in jobs] * 2, [j.target.position for j in jobs] * 2, budget)
    value, base_value = ends[: len(jobs)], ends[len(jobs):]
    opts = Options(n_steps=n_steps, internal_batch_size=internal_batch_size, window=window, n_samples=n_samples, seed=seed)
    attributions: dict[str, list[Attribution]] = {}
    warnings: list[str] = []
    for m in methods:
        b = _budget_for(m, budget, grad_budget)
        if m == "ig":
            attributions[m] = _ig_until_complete(head, jobs, base_id, b, opts, value, base_value, completeness_tol)
            bad = sum(not a.converged for a in attributions[m])
            if bad:
                warnings.append(f"IG: {bad} of {len(jobs)} examples kept a completeness gap above {completeness_tol:g} "
                                f"(relative) at {n_steps * MAX_STEP_FACTOR} steps; they are flagged (converged=False)")
        else:
            outs = attribute(m, head, jobs, base_id, b, opts)
            attributions[m] = [_attribution(m, j, o) for j, o in zip(jobs, outs)]
        if m in PER_EXAMPLE_SURROGATE:
            warnings.append(f"{m}: captum fits one surrogate model per example; its perturbations are batched")
    contrasts: list[Contrast | None] = [None] * len(with_pair)
    if with_pair and head.contrast_skipped:
        warnings.append(head.contrast_skipped)
    elif with_pair:
        contrasts = _contrasts(head, [jobs[i] for i in with_pair], jobs[len(texts):], base_id, budget, grad_budget, opts,
                               [float(value[i]) for i in with_pair], completeness_tol, warnings)
    randomisation: dict[str, Any] = {}
    if randomisation_check:
        randomisation = _randomisation(head, jobs[: len(texts)], methods[0], attributions[methods[0]][: len(texts)], base_id,
                                       budget, grad_budget, opts, completeness_tol)
    backoffs = budget.backoffs + grad_budget.backoffs
    if backoffs:
        warnings.append(f"the token budget was halved {backoffs} times after running out of GPU memory")

    summary: dict[str, Any] = {}
    agreement: list[dict[str, Any]] = []
    word_scores = {m: [np.asarray(a.word_scores) for a in attributions[m]] for m in methods}
    if faithfulness and head.faithfulness_skipped:
        warnings.append(head.faithfulness_skipped)
    elif faithfulness:
        per_example = faith.evaluate(head, jobs, word_scores, budget, seed=seed)
        for m in methods:
            attributions[m] = [_with(a, faithfulness=f) for a, f in zip(attributions[m], per_example[m])]
            summary[m] = faith.summarise(per_example[m], seed=seed)
    if len(methods) > 1:
        agreement = faith.rank_agreement(word_scores, seed=seed)
    if windows and any(e.truncated for e in encoded):
        warnings.append("texts over the model's limit are explained window by window, as the window strategies read "
                        "them: each window is its own example with its own prediction (window_mean averages them)")
    for j in [] if windows else jobs:  # a window's note is not a cut: every token is read in some window
        if j.enc.truncated and head.needs_question:
            warnings.append(j.enc.truncated)
        elif j.enc.truncated:
            warnings.append(f"truncated to the model's limit of {model.max_length} tokens: {j.enc.truncated}")

    examples = [_explanation(head, j, float(value[i]), float(base_value[i]), [attributions[m][i] for m in methods])
                for i, j in enumerate(jobs)]
    tops = examples[: len(texts)]
    for k, i in enumerate(with_pair):
        tops[i] = _with(tops[i], pair=examples[len(texts) + k], contrast=contrasts[k])
    return ExplanationSet(
        model=model.info.spec, task=model.task, methods=methods, quantity=head.quantity, baseline=baseline,
        examples=tuple(tops), faithfulness=summary, rank_agreement=tuple(agreement), randomisation=randomisation,
        settings={"n_steps": n_steps, "completeness_tol": completeness_tol, "float_floor": FLOAT_FLOOR, "max_steps": n_steps * MAX_STEP_FACTOR,
                  "integration": "gausslegendre", "internal_batch_size": internal_batch_size, "window": window,
                  "n_samples": n_samples, "seed": seed, "token_budget": budget.tokens, "truncate": truncate,
                  "faithfulness_k_percent": list(faith.AOPC_K), "removal": "words deleted, special tokens kept",
                  "methods": {m: METHODS[m] for m in methods},
                  **({"faithfulness_skipped": head.faithfulness_skipped} if head.faithfulness_skipped else {})},
        warnings=tuple(dict.fromkeys(warnings)), seconds=round(time.perf_counter() - t0, 3),
    )


def _budget_for(method: str, budget: Budget, grad_budget: Budget) -> Budget:
    """Gradient methods keep activations for the backward pass: they get the smaller budget."""
    return grad_budget if method in ("ig", "gxi", "saliency") else budget


def _window_targets(head: Head, encoded: list[Encoded], targets: Sequence[str | None], budget: Budget) -> list[Target]:
    """Targets of window rows from the rows themselves: every label's log-odds F_k on the window, P_k = sigmoid(F_k)
    (the adapter's own probability of the text would be of its first window only)."""
    m = head.adapter
    labels = list(m.labels)
    rows = [list(e.ids) for e in encoded] * len(labels)
    every = [Target(lab, k) for k, lab in enumerate(labels) for _ in encoded]
    prob = 1 / (1 + np.exp(-score_rows(head, rows, every, [0] * len(rows), budget).reshape(len(labels), len(encoded))))
    out = []
    for j, t in enumerate(targets):
        top = int(np.argmax(prob[:, j]))
        idx = m.label_index(t) if t is not None else top
        out.append(Target(labels[idx], idx, prediction={"label": labels[top], "score": float(prob[top, j]),
                                                        "target_prob": float(prob[idx, j])}))
    return out


def _randomisation(head: Head, jobs: list[Job], method: str, trained: list[Attribution], base_id: int, budget: Budget,
                   grad_budget: Budget, opts: Options, tol: float) -> dict[str, Any]:
    """Adebayo et al.'s check for ``method``: the same jobs and targets, attributed by the randomised model."""
    from audit.explain import sanity

    def again(h: Head) -> list[tuple[float, ...]]:
        rows = [list(j.enc.ids) for j in jobs] + [_baseline_row(j, base_id) for j in jobs]
        ends = score_rows(h, rows, [j.target for j in jobs] * 2, [j.target.position for j in jobs] * 2, budget)
        if method == "ig":
            attrs = _ig_until_complete(h, jobs, base_id, grad_budget, opts, ends[: len(jobs)], ends[len(jobs):], tol)
        else:
            b = _budget_for(method, budget, grad_budget)
            attrs = [_attribution(method, j, o) for j, o in zip(jobs, attribute(method, h, jobs, base_id, b, opts))]
        return [a.word_scores for a in attrs]

    return {"method": method, **sanity.check(head, [a.word_scores for a in trained], again, seed=opts.seed)}


def _contrasts(head: Head, text_jobs: list[Job], pair_jobs: list[Job], base_id: int, budget: Budget, grad_budget: Budget,
               opts: Options, values: list[float], tol: float, warnings: list[str]) -> list[Contrast | None]:
    """IG from each counterfactual to its text (all pairs in the same batched captum calls), with the aligned
    end values, and the swapped words' own effect from two more rows per pair (one batched scoring pass)."""
    built = [contrast_job(t.enc, p.enc, t.target, p.target, head.adapter.tokenizer, base_id) for t, p in zip(text_jobs, pair_jobs)]
    keep = [k for k, b in enumerate(built) if b is not None]
    if len(keep) < len(built):
        warnings.append(f"{len(built) - len(keep)} pair(s) share under {MIN_SHARED:.0%} of their tokens (not token-aligned): "
                        "no contrastive decomposition for them, per-side explanations only")
    out: list[Contrast | None] = [None] * len(built)
    if not keep:
        return out
    cjobs = [built[k][0] for k in keep]  # type: ignore[index]
    aligned = [built[k][1] for k in keep]  # type: ignore[index]
    pair_targets = [built[k][2] for k in keep]  # type: ignore[index]
    own = [own_rows(j, al, base_id) for j, al in zip(cjobs, aligned)]
    rows = ([list(j.enc.ids) for j in cjobs] + [list(j.baseline or ()) for j in cjobs] + [o[0] for o in own]
            + [o[1] for o in own] + [list(pair_jobs[k].enc.ids) for k in keep])
    targets = [j.target for j in cjobs] * 4 + pair_targets
    ends = score_rows(head, rows, targets, [t.position for t in targets], budget).reshape(5, len(cjobs))
    attrs = _ig_until_complete(head, cjobs, base_id, grad_budget, opts, ends[0], ends[1], tol)
    bad = sum(not a.converged for a in attrs)
    if bad:
        warnings.append(f"contrastive IG: {bad} of {len(cjobs)} pairs kept a completeness gap above {tol:g} (relative); "
                        "they are flagged (converged=False)")
    for n, (k, j, al, a) in enumerate(zip(keep, cjobs, aligned, attrs)):
        out[k] = Contrast(text=j.enc.text, counterfactual=pair_jobs[k].enc.text, quantity=head.quantity, tokens=j.enc.tokens,
                          words=j.enc.words, word_of_token=j.enc.word_of_token, token_scores=a.token_scores,
                          word_scores=a.word_scores, span_words=span_words(j, al), value=values[k], pair_value=float(ends[4, n]),
                          aligned_value=float(ends[0, n]), aligned_pair_value=float(ends[1, n]),
                          own_effect=float(ends[2, n] - ends[3, n]), delta=a.delta, relative_delta=a.relative_delta,
                          n_steps=a.n_steps, converged=a.converged, fills=al.fills)
    return out


def _baseline_row(job: Job, base_id: int) -> list[int]:
    if job.baseline is not None:
        return list(job.baseline)
    return [t if s else base_id for t, s in zip(job.enc.ids, job.enc.special)]


def _with(obj: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _attribution(method: str, job: Job, out: Output, **extra: Any) -> Attribution:
    return Attribution(method, tuple(out.token_scores.tolist()), tuple(job.enc.word_scores(out.token_scores).tolist()),
                       delta=out.delta, **extra)


def _ig_until_complete(head: Head, jobs: list[Job], base_id: int, budget: Budget, opts: Options,
                       value: np.ndarray, base_value: np.ndarray, tol: float) -> list[Attribution]:
    """IG on every example; those whose relative completeness gap exceeds ``tol`` are re-run with twice the
    steps (together, batched) up to MAX_STEP_FACTOR × n_steps, then flagged if the gap remains."""
    diff = value - base_value
    scale = np.maximum(1.0, np.maximum(np.abs(value), np.abs(base_value)))
    done: dict[int, Attribution] = {}
    todo = list(range(len(jobs)))
    steps = opts.n_steps
    while todo:
        outs = attribute("ig", head, [jobs[i] for i in todo], base_id, budget, Options(**{**opts.__dict__, "n_steps": steps}))
        retry = []
        for i, o in zip(todo, outs):
            assert o.delta is not None  # integrated gradients always reports its convergence delta
            rel = abs(o.delta) / max(abs(float(diff[i])), 1e-12)
            ok = abs(o.delta) <= tol * abs(float(diff[i])) + FLOAT_FLOOR * scale[i]
            done[i] = _attribution("ig", jobs[i], o, relative_delta=rel, n_steps=steps, converged=ok)
            if not ok:
                retry.append(i)
        if steps * 2 > opts.n_steps * MAX_STEP_FACTOR:
            break
        todo, steps = retry, steps * 2
    return [done[i] for i in range(len(jobs))]


def _explanation(head: Head, job: Job, value: float, base_value: float, attributions: list[Attribution]) -> Explanation:
    return Explanation(text=job.enc.text, tokens=job.enc.tokens, words=job.enc.words, word_of_token=job.enc.word_of_token,
                       target=job.target.name, quantity=head.quantity, value=value, baseline_value=base_value,
                       prediction=dict(job.target.prediction), attributions=tuple(attributions),
                       truncated=job.enc.truncated)


def _no_contrast(head: Head, e: Explanation) -> str:
    return head.contrast_skipped or (f"no contrastive decomposition: the two sides share under {MIN_SHARED:.0%} of their "
                                     "tokens (not token-aligned); each side is explained on its own")


def _contrast_row(c: Contrast) -> dict[str, Any]:
    """The gap decomposition for the report: the figures, the words with their scores and the summary in words."""
    from audit.explain.render import contrast_summary

    keep = ("counterfactual", "words", "word_scores", "scaled_word_scores", "span_words", "value", "pair_value", "gap",
            "span_share", "rest_share", "own_effect", "context_effect", "alignment_effect", "fills", "relative_delta",
            "n_steps", "converged")
    d = c.to_dict()
    return {**{k: d[k] for k in keep}, "summary": contrast_summary(c)}


def _explain_cases(model: AuditedModel, cases: list[Case], method: str, n_steps: int,
                   completeness_tol: float) -> list[dict[str, Any]]:
    ok: list[int] = []
    errors: dict[int, str] = {}
    head = explanation_head(model)
    for i, c in enumerate(cases):
        try:  # checked one by one without the model, so one bad case does not sink the rest
            for t in (c.text, c.pair):
                if t is not None and not t.strip():
                    raise AuditError("empty text")
            head.check(c.text, c.target)
            if c.pair is not None and not head.needs_question:  # a QA pair falls back to its own best span
                head.check(c.pair, c.target)
            if head.needs_question and not str(c.meta.get("question") or "").strip():
                raise AuditError("a question-answering case needs meta['question']")
            ok.append(i)
        except AuditError as exc:
            errors[i] = str(exc)
    result: ExplanationSet | None = None
    if ok:
        result = explain(model, [cases[i].text for i in ok], method=method, target=[cases[i].target for i in ok],
                         pairs=[cases[i].pair for i in ok], n_steps=n_steps, truncate=True,
                         completeness_tol=completeness_tol,
                         question=[cases[i].meta["question"] for i in ok] if head.needs_question else None,
                         pair_question=[cases[i].meta.get("pair_question") for i in ok] if head.needs_question else None)
    by_case = dict(zip(ok, result.examples)) if result is not None else {}
    out = []
    for i, c in enumerate(cases):
        row: dict[str, Any] = {"probe": c.meta.get("probe"), "text": c.text, "pair": c.pair, "reason": c.reason,
                               "case_score": c.score, "method": method}
        if i in errors:
            out.append({**row, "target": c.target, "error": errors[i]})
            continue
        e = by_case[i]
        a = e.attributions[0]
        row.update({
            "target": e.target, "quantity": e.quantity, "value": e.value, "baseline_value": e.baseline_value,
            "prediction": e.prediction, "tokens": list(e.tokens), "token_scores": list(a.token_scores),
            "words": list(e.words), "scores": list(a.word_scores), "scaled_scores": list(a.scaled_word_scores),
            "delta": a.delta, "relative_delta": a.relative_delta, "n_steps": a.n_steps, "converged": a.converged,
            "faithfulness": a.faithfulness, "truncated": e.truncated,
            "pair_words": list(e.pair.words) if e.pair else None,
            "pair_scores": list(e.pair.scores) if e.pair else None,
            "pair_scaled_scores": list(e.pair.attributions[0].scaled_word_scores) if e.pair else None,
            "pair_value": e.pair.value if e.pair else None,
            "pair_prediction": e.pair.prediction if e.pair else None,
            "pair_delta": e.pair.delta if e.pair else None,
            "pair_converged": e.pair.attributions[0].converged if e.pair else None,
            "pair_truncated": e.pair.truncated if e.pair else None,
            "contrast": _contrast_row(e.contrast) if e.contrast else None,
            "contrast_note": _no_contrast(head, e) if e.pair and not e.contrast else None,
        })
        out.append(row)
    if result is not None and out:
        out[0]["set_faithfulness"] = result.faithfulness.get(method)
    return _clean(out)
