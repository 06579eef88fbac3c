"""`audit explain MODEL "text" …`: print a token table, optionally write an HTML heatmap or JSON."""
from __future__ import annotations

import argparse
import json
from typing import Any

from audit.errors import AuditError
from audit.explain.names import METHODS
from audit.ranges import positive_arg


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("explain", help="attribute a model's output on a text to its words (captum)")
    p.add_argument("model", help="'default' (packaged all-MiniLM-L6-v2), a local folder, or a hub id")
    p.add_argument("text", nargs="+", help="text(s) to explain")
    p.add_argument("--method", action="append", dest="methods", metavar="METHOD",
                   help=f"attribution method (repeatable; default ig): {', '.join(METHODS)}")
    p.add_argument("--target", help="label (LABEL@k for token classification), token (language models) or reference "
                                    "text (sentence encoders), answer text (question answering), target text (seq2seq); "
                                    "default: the prediction")
    p.add_argument("--question", help="question-answering models: the question asked of the text (the context)")
    p.add_argument("--pair", help="a counterfactual version of the (single) text, explained for the same target")
    p.add_argument("--task", help="task head, when detection is not what you want")
    p.add_argument("--baseline", default="pad", help="pad (default) or mask: the token that replaces words in the baseline")
    p.add_argument("--n-steps", type=positive_arg, default=50, help="Integrated Gradients steps (raised automatically when incomplete)")
    p.add_argument("--randomisation-check", action="store_true",
                   help="also attribute with the model's top layer re-initialised and report the rank correlation "
                        "(Adebayo et al. 2018); a sound explanation decorrelates")
    p.add_argument("--truncate", action="store_true", help="explain the first tokens of a text over the model's limit")
    p.add_argument("--windows", action="store_true",
                   help="explain a text over the model's limit window by window, as the window strategies read it "
                        "(classifiers and zero-shot models)")
    p.add_argument("--html", metavar="OUT.html", help="also write a self-contained HTML heatmap")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, mps")
    p.add_argument("--offline", action="store_true", help="never contact the model hub")
    return p


def main(args: argparse.Namespace) -> int:
    from audit.explain.explainer import explain
    from audit.explain.render import render_html, render_table
    from audit.loading import load
    from audit.results import check_output, write_atomic

    if args.pair is not None and len(args.text) != 1:
        raise AuditError("--pair goes with exactly one text")
    if args.html and not str(args.html).lower().endswith((".html", ".htm")):
        raise AuditError(f"--html {args.html}: give a file name ending in .html")
    if args.html:
        check_output(args.html, what="--html")  # before the model loads, not after the attributions
    model = load(args.model, task=args.task, device=args.device, offline=True if args.offline else None, progress=False)
    result = explain(model, args.text, method=args.methods or ["ig"], target=args.target, n_steps=args.n_steps,
                     baseline=args.baseline, pairs=[args.pair] if args.pair is not None else None, truncate=args.truncate,
                     question=args.question, randomisation_check=args.randomisation_check,
                     windows=args.windows)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False))
    else:
        print(render_table(result))
    if args.html:
        path = write_atomic(args.html, render_html(result))
        if not args.json:
            print(f"\nwrote {path}")
    return 0
