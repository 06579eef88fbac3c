"""The command line: ``audit run | list | report | explain | compare | validate | init``.

Exit codes: 0 every gate passes, 1 a gate fails, 2 a usage or input error (one line on stderr, no
traceback unless --debug, nothing written), 3 an internal error (a bug: please report it).
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from audit.errors import AuditError

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are AuditErrors (one line, exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise AuditError(f"{message} (see `{self.prog} --help`)")


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return n


def _batch_size(value: str) -> int | None:
    """'auto' (the token budget decides) or a positive number of rows."""
    if value == "auto":
        return None
    try:
        return _positive(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"--batch-size must be 'auto' or a positive integer, got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="audit", description="Audit Hugging Face transformer models for bias, language coverage and long-input degradation.")
    parser.add_argument("--version", action="version", version=f"transformer-audit {__import__('audit').__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run an audit and write results.json and report.html")
    run.add_argument("model", nargs="?", default=None, help="'default' (packaged all-MiniLM-L6-v2), a local folder, or a hub id")
    run.add_argument("--task", help="task head, when detection is not what you want")
    run.add_argument("--suite", action="append", dest="suites", metavar="SUITE", help="suite to run (repeatable); default: all")
    run.add_argument("--probe", action="append", dest="probes", metavar="PROBE", help="probe to run (repeatable)")
    run.add_argument("--config", help="YAML audit config (see `audit init`)")
    run.add_argument("--out", default=None, help="output folder (default: audit-out)")
    run.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N, mps")
    run.add_argument("--device-map", default=None, help="'auto': spread a model larger than one GPU over the devices (Accelerate)")
    run.add_argument("--dtype", default=None, help="auto (default: bf16 on capable GPUs, fp32 on CPU), fp32, bf16, fp16")
    run.add_argument("--batch-size", type=_batch_size, default=None, help="'auto' (token budget, default) or a fixed number of rows")
    run.add_argument("--max-cases", type=_positive, default=None, help="cap the number of cases per probe (seeded sample)")
    run.add_argument("--max-tokens", type=_positive, default=None,
                     help="cap the tokens each probe pushes through the model (default with --max-cases: 2048 per case); "
                          "a probe over it is cut down (fewer cases, shorter lengths) and says so")
    run.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    run.add_argument("--offline", action="store_true", help="never contact the model hub")
    run.add_argument("--no-cache", action="store_true", help="do not read or write the output cache")
    run.add_argument("--cache-dir", default=None, help="cache folder (default ~/.cache/transformer-audit)")
    run.add_argument("--no-explain", action="store_true", help="skip attributions for the telling cases")
    run.add_argument("--explain-method", default="ig", help="attribution method for the telling cases (default ig)")
    run.add_argument("--trust-remote-code", action="store_true", help="allow a model's own Python code (off by default)")
    run.add_argument("--allow-pickle", action="store_true", help="allow pickled .bin weights (refused by default)")
    run.add_argument("--baseline", help="results.json of an earlier run: fail on regressions beyond --tolerance")
    run.add_argument("--tolerance", type=float, default=None, help="allowed regression against --baseline (default 0.02)")
    run.add_argument("--junit", help="also write a JUnit XML file (one test case per gate)")
    run.add_argument("--summary", help="also write a Markdown summary for a CI job page")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.add_argument("--dry-run", action="store_true", help="count cases and forward passes per suite and estimate the time; run nothing, write nothing")

    sub.add_parser("list", help="list the probes, one line each")

    rep = sub.add_parser("report", help="render a report from results.json")
    rep.add_argument("results")
    rep.add_argument("-o", "--output", default="report.html", help="report.html or report.md")

    val = sub.add_parser("validate", help="check an audit config without running it")
    val.add_argument("config")
    val.set_defaults(handler=lambda a: __import__("audit.config", fromlist=["x"]).validate_command(a.config))
    init = sub.add_parser("init", help="write a commented starter audit config")
    init.add_argument("config", nargs="?", default="audit.yaml")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=lambda a: __import__("audit.config", fromlist=["x"]).init_command(a.config, force=a.force))

    import importlib

    for module_name in ("audit.explain.cli", "reports.compare"):
        module = importlib.import_module(module_name)
        before = set(sub.choices)
        module.add_parser(sub)
        for command in set(sub.choices) - before:
            sub.choices[command].set_defaults(handler=module.main)
    return parser


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Refuse a second audit writing into the same folder at the same time; taken before the run, so a
    refused audit costs nothing. A folder this call created is removed again when the run fails."""
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fh = open(out / ".audit.lock", "w")
    except OSError as exc:
        raise AuditError(f"cannot write to --out {out} ({exc.strerror}); pass a writable folder") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AuditError(f"another audit is writing to {out}; wait for it or pass a different --out") from None
        try:
            yield
        except BaseException:
            if created:
                (out / ".audit.lock").unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    out.rmdir()
            raise


def _cmd_run(args: argparse.Namespace) -> int:
    from audit.results import AuditResult
    from audit.runner import run_audit

    kwargs: dict[str, Any] = {}
    cfg = None
    if args.config:
        from audit.config import load_config

        cfg = load_config(args.config)
        kwargs = cfg.run_kwargs()
        if args.probes or args.suites:  # the command line narrows the selection: keep only its probes' settings
            from probes.base import resolve

            chosen = {c.name for c in resolve(args.probes or [], args.suites or [])}
            for key in ("probe_params", "thresholds"):
                kwargs[key] = {k: v for k, v in (kwargs.get(key) or {}).items() if k in chosen}
    model = args.model or kwargs.pop("model", None) or "default"
    kwargs.pop("model", None)
    overrides = {
        "task": args.task, "suites": args.suites, "probes": args.probes, "device": args.device, "dtype": args.dtype,
        "batch_size": args.batch_size, "max_cases": args.max_cases, "seed": args.seed,
        "max_tokens": args.max_tokens,
    }
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    if args.no_explain:
        kwargs["explain"] = False
    elif args.explain_method != "ig":
        kwargs["explain"] = args.explain_method
    out = Path(args.out or (cfg.out if cfg else None) or "audit-out")
    baseline_path = args.baseline or (str(cfg.baseline.path) if cfg and cfg.baseline else None)
    baseline = AuditResult.load(baseline_path) if baseline_path else None
    tolerance = args.tolerance if args.tolerance is not None else (cfg.baseline.tolerance if cfg and cfg.baseline else 0.02)
    if out.exists() and not out.is_dir():
        raise AuditError(f"--out {out} is a file; pass a folder")
    if args.dry_run:
        return _dry_run(model, args, kwargs)
    from audit import distributed

    main_process = distributed.is_main_process()  # under accelerate launch, only the main process writes
    with _locked(out) if main_process else contextlib.nullcontext():
        result = run_audit(
            model, offline=True if args.offline else None, use_cache=not args.no_cache, cache_dir=args.cache_dir,
            trust_remote_code=args.trust_remote_code, allow_pickle=args.allow_pickle, progress=not args.quiet,
            device_map=args.device_map, **kwargs,
        )
        if cfg is not None:
            cfg.check_gates(result)
        if baseline is not None:
            from audit.ci import baseline_gates
            from audit.results import ProbeResult

            gates = baseline_gates(result, baseline, tolerance)
            result = AuditResult(**{**result.__dict__, "probes": result.probes + (ProbeResult(
                probe="baseline", suite="baseline", title="Regression against the baseline run",
                headline=f"{sum(g.status == 'fail' for g in gates)} of {len(gates)} metrics regressed beyond {tolerance:g} against {baseline_path}.",
                gates=gates),)})
        if not main_process:
            return EXIT_OK if result.passed else EXIT_GATE_FAILED
        written = _write_outputs(result, out)
        if args.junit or args.summary:
            from audit.ci import junit_xml, markdown_summary
            from audit.results import write_atomic

            if args.junit:
                written["junit"] = write_atomic(args.junit, junit_xml(result))
            if args.summary:
                written["summary"] = write_atomic(args.summary, markdown_summary(result))
    _print_summary(result, written)
    return EXIT_OK if result.passed else EXIT_GATE_FAILED


def _dry_run(model: str, args: argparse.Namespace, kwargs: dict[str, Any]) -> int:
    from audit import dryrun
    from audit.models import load
    from audit.runner import build_probes

    m = load(model, task=kwargs.get("task"), device=kwargs.get("device") or "auto", dtype=kwargs.get("dtype") or "auto",
             batch_size=kwargs.get("batch_size"), use_cache=False, offline=True if args.offline else None,
             trust_remote_code=args.trust_remote_code, allow_pickle=args.allow_pickle, progress=False)
    probes, skipped = build_probes(m, suites=kwargs.get("suites"), probes=kwargs.get("probes"),
                                   probe_params=kwargs.get("probe_params"), thresholds=kwargs.get("thresholds"),
                                   seed=kwargs.get("seed") or 0, max_cases=kwargs.get("max_cases"))
    from audit.budget import token_budget

    budget = token_budget(kwargs.get("max_tokens"), kwargs.get("max_cases"))
    rows, rate = dryrun.plan(m, probes, budget)
    print(dryrun.render(m, rows, rate, [s.probe for s in skipped], budget))
    return EXIT_OK


def _write_outputs(result: Any, out: Path) -> dict[str, Path]:
    import reports

    written = {"results": result.save(out / "results.json")}
    written.update(reports.write_report(result, out))
    return written


def _print_summary(result: Any, written: dict[str, Path]) -> None:
    gates = result.gates
    fails = [g for g in gates if g.status == "fail"]
    unsure = [g for g in gates if g.status == "inconclusive"]
    from audit.budget import over_budget

    skipped = [p.probe for p in result.probes if p.status == "skipped" and not over_budget(p)]
    for p in result.probes:
        if p.status != "skipped" or over_budget(p):
            print(f"  {p.status:5} {p.probe:32} {p.headline}")
    if skipped:
        print(f"  skip  {len(skipped)} probes that do not apply to a {result.model.task} model: {', '.join(skipped)}")
    for g in fails:
        print(f"  FAIL {g.probe}: {g.reason}")
    print(f"{len(gates) - len(fails) - len(unsure)} gates passed, {len(fails)} failed, {len(unsure)} inconclusive "
          f"in {result.timings.get('total', 0):.1f} s")
    for kind, path in written.items():
        if kind in ("results", "html", "md", "junit", "summary"):
            print(f"  {kind}: {path}")


def _cmd_list(args: argparse.Namespace) -> int:
    from probes.base import registry

    for name, cls in registry().items():
        print(f"{name:32} [{cls.suite}] {cls.title} (needs: {cls.needs()})")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    import reports
    from audit.results import AuditResult, write_atomic

    result = AuditResult.load(args.results)
    out = Path(args.output)
    if out.suffix.lower() not in (".html", ".htm", ".md"):
        raise AuditError(f"cannot write a report as {out.name}: name it .html or .md")
    fmt = "md" if out.suffix.lower() == ".md" else "html"
    if out.name in ("report.html", "report.md"):  # the full set: page plus the per-case data files it links
        written = reports.write_report(result, out.parent, formats=(fmt,))
        print(f"wrote {written[fmt]} and {len(written) - 1} data files")
    else:
        write_atomic(out, reports.render_markdown(result) if fmt == "md" else reports.render_html(result))
        print(f"wrote {out}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        handler = {"run": _cmd_run, "list": _cmd_list, "report": _cmd_report}.get(args.command) or args.handler
        return int(handler(args))
    except AuditError as exc:
        if debug:
            raise
        print(f"audit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("audit: interrupted; completed batches are cached and a re-run resumes from them", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, not a traceback
        if debug:
            raise
        print(f"audit: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
              "(re-run with --debug for the traceback and please report it)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
