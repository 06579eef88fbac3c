"""The command line: ``audit run | list | report | explain | compare | validate | init``.

Exit codes: 0 every gate passes, 1 a gate fails, 2 a usage or input error (one line on stderr, no
traceback unless --debug, nothing written), 3 an internal error (a bug: please report it), 4 no gate fails
but one is inconclusive (the evidence decides neither way; 0 with --allow-inconclusive).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import AuditError
from audit.ranges import DEFAULT_TOLERANCE, positive_arg, seed_arg, tolerance_arg

if TYPE_CHECKING:  # pragma: no cover
    from audit.run_spec import RunSpec

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INCONCLUSIVE = 0, 1, 2, 3, 4


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are AuditErrors (one line, exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise AuditError(f"{message} (see `{self.prog} --help`)")


def _batch_size(value: str) -> int | None:
    """'auto' (the token budget decides) or a positive number of rows."""
    if value == "auto":
        return None
    try:
        return positive_arg(value)
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
    run.add_argument("--max-cases", type=positive_arg, default=None, help="cap the number of cases per probe (seeded sample)")
    run.add_argument("--max-tokens", type=positive_arg, default=None,
                     help="cap the tokens each probe pushes through the model (default with --max-cases: 2048 per case); "
                          "a probe over it is cut down (fewer cases, shorter lengths) and says so")
    run.add_argument("--seed", type=seed_arg, default=None, help="random seed (default 0)")
    run.add_argument("--offline", action="store_true", help="never contact the model hub")
    run.add_argument("--no-cache", action="store_true", help="do not read or write the output cache")
    run.add_argument("--cache-dir", default=None, help="cache folder (default ~/.cache/transformer-audit)")
    run.add_argument("--no-explain", action="store_true", help="skip attributions for the telling cases")
    run.add_argument("--explain-method", default="ig", help="attribution method for the telling cases (default ig)")
    run.add_argument("--trust-remote-code", action="store_true", help="allow a model's own Python code (off by default)")
    run.add_argument("--allow-pickle", action="store_true", help="allow pickled .bin weights (refused by default)")
    run.add_argument("--allow-missing-weights", action="store_true",
                     help="audit a model whose weights miss tensors of its architecture (random; refused by default)")
    run.add_argument("--max-length", type=positive_arg, default=None,
                     help="audit at most N tokens per input (the limit in force is the smallest of this and the model's own)")
    run.add_argument("--revision", default=None, help="hub revision (branch, tag or commit) of a hub id")
    run.add_argument("--baseline", help="results.json of an earlier run: fail on regressions beyond --tolerance")
    run.add_argument("--tolerance", type=tolerance_arg, default=None, help=f"allowed regression against --baseline (default {DEFAULT_TOLERANCE})")
    run.add_argument("--junit", help="also write a JUnit XML file (one test case per gate)")
    run.add_argument("--summary", help="also write a Markdown summary for a CI job page")
    run.add_argument("--allow-inconclusive", action="store_true", default=None,
                     help="treat inconclusive gates as warnings (exit 0) instead of exit code 4")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    data = run.add_argument_group("labelled data (bias.group_performance)")
    data.add_argument("--data", help="your labelled data: a .csv/.jsonl/.parquet file or a cached hub dataset id (org/name[:split])")
    data.add_argument("--group-column", action="append", dest="group_columns", metavar="COLUMN",
                      help="column naming each row's group, e.g. dialect (repeatable)")
    data.add_argument("--text-column", help="column with the text (default: text)")
    data.add_argument("--label-column", help="column with the true label (default: label)")
    run.add_argument("--dry-run", action="store_true", help="count cases and forward passes per suite and estimate the time; run nothing, write nothing")

    lst = sub.add_parser("list", help="list the probes, one line each; with a probe's name, its parameters and metrics")
    lst.add_argument("probe", nargs="?", help="a probe's name: show what it declares (parameters, metrics, default gates)")

    rep = sub.add_parser("report", help="render a report from results.json")
    rep.add_argument("results")
    rep.add_argument("-o", "--output", default="report.html", help="report.html or report.md")

    val = sub.add_parser("validate", help="check an audit config without running it (no model is loaded)")
    val.add_argument("config")
    val.set_defaults(handler=lambda a: __import__("audit.config", fromlist=["x"]).validate_command(a.config))
    gate = sub.add_parser("gate", help="re-apply thresholds and a baseline to an existing results.json (no model is loaded)")
    gate.add_argument("results", help="results.json of an earlier `audit run`")
    gate.add_argument("--config", help="YAML audit config whose thresholds (and baseline) to apply; default: each probe's defaults")
    gate.add_argument("--baseline", help="results.json of an earlier run: fail on regressions beyond --tolerance")
    gate.add_argument("--tolerance", type=tolerance_arg, default=None, help=f"allowed regression against --baseline (default {DEFAULT_TOLERANCE})")
    gate.add_argument("--allow-inconclusive", action="store_true", default=None, help="inconclusive gates are warnings (exit 0), not exit 4")
    gate.add_argument("--junit", help="also write a JUnit XML file (one test case per gate)")
    gate.add_argument("--summary", help="also write a Markdown summary for a CI job page")
    gate.add_argument("-o", "--output", help="also write the re-gated results.json here")
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


def _run_spec(args: argparse.Namespace) -> RunSpec:
    """The RunSpec of `audit run`: the --config file's, with the flags given on top."""
    from audit.run_spec import RunSpec

    spec = RunSpec()
    if args.config:
        from audit.config import load_config

        spec = RunSpec.from_config(load_config(args.config))
        if args.probes or args.suites:  # the command line narrows the selection: keep only its probes' settings
            from probes.base import resolve

            chosen = {c.name for c in resolve(args.probes or [], args.suites or [])}
            spec = spec.replace(**{key: {k: v for k, v in (getattr(spec, key) or {}).items() if k in chosen}
                                   for key in ("probe_params", "thresholds")})
    changes = {
        "model": args.model, "task": args.task, "suites": args.suites, "probes": args.probes, "device": args.device,
        "dtype": args.dtype, "batch_size": args.batch_size, "max_cases": args.max_cases, "seed": args.seed,
        "max_tokens": args.max_tokens, "cache_dir": args.cache_dir, "max_length": args.max_length,
        "revision": args.revision, "device_map": args.device_map, "allow_inconclusive": args.allow_inconclusive,
        "offline": True if args.offline else None, "use_cache": False if args.no_cache else None,
        "trust_remote_code": args.trust_remote_code or None, "allow_pickle": args.allow_pickle or None,
        "allow_missing_weights": args.allow_missing_weights or None,
        "explain": False if args.no_explain else args.explain_method if args.explain_method != "ig" else None,
    }
    data_params = {"data": args.data, "group_columns": args.group_columns, "text_column": args.text_column,
                   "label_column": args.label_column}
    if any(v is not None for v in data_params.values()):  # the flags are bias.group_performance's parameters
        params = dict(spec.probe_params or {})
        params["bias.group_performance"] = {**params.get("bias.group_performance", {}),
                                            **{k: v for k, v in data_params.items() if v is not None}}
        changes["probe_params"] = params
    before = spec.baseline  # --baseline and --tolerance override the config's path and tolerance
    if args.baseline or (args.tolerance is not None and before is not None):
        tolerance = args.tolerance if args.tolerance is not None else before.tolerance if before is not None else None
        changes["baseline"] = {"path": args.baseline or before.path,  # type: ignore[union-attr]
                               **({"tolerance": tolerance} if tolerance is not None else {})}
    spec = spec.replace(**{k: v for k, v in changes.items() if v is not None})
    if not isinstance(spec.model, str) or not spec.model.strip():
        raise AuditError("the model argument is empty (an unset variable?); pass 'default', a model folder or a hub id")
    return spec


def _cmd_run(args: argparse.Namespace) -> int:
    if not args.quiet and sys.stderr.isatty():  # importing torch and transformers takes seconds: say so first
        print("[audit] starting (loading torch and transformers) …", file=sys.stderr, flush=True)
    from audit.config import AuditConfig
    from audit.progress import Progress
    from audit.runner import run

    spec = _run_spec(args)
    spec.read_baseline()  # inputs first: a bad baseline is refused before the output folder is touched
    if args.dry_run:
        return _dry_run(spec)
    from audit import distributed, outdir

    cfg = spec.config if isinstance(spec.config, AuditConfig) else None
    out = Path(args.out or (cfg.out if cfg else None) or "audit-out")
    baseline_path = spec.baseline.path if spec.baseline is not None else None
    model_dir = Path(spec.model).expanduser()
    inputs = [*(cfg.files if cfg else ()), *([model_dir] if model_dir.is_dir() else [])]
    outdir.check(out, inputs=inputs, allowed_input=baseline_path)
    extras = _extra_outputs(out, {"--junit": args.junit, "--summary": args.summary}, inputs=[baseline_path, *inputs])
    main_process = distributed.is_main_process()  # under accelerate launch, only the main process writes
    bar = Progress(total=2.0, enabled=not args.quiet and main_process)  # loading and writing; the runner adds the probes
    with (outdir.owned(out) if main_process else contextlib.nullcontext(out)) as stage, bar:
        result = run(spec, progress=bar)
        allow = spec.allow_inconclusive
        if not main_process:
            return _exit_code(result, allow)
        bar.stage(f"writing results.json and the report to {out}")
        written = _write_outputs(result, stage)
        if extras:
            for flag, (path, rel) in extras.items():  # under --out: part of the set that is swapped in
                written[flag.lstrip("-")] = _write_ci_file(flag, result, allow, stage / rel if rel else path, path)
    written = {k: out / p.relative_to(stage) if stage in p.parents else p for k, p in written.items()}
    _print_summary(result, written, allow)
    return _exit_code(result, allow)


def _allow_inconclusive(args: argparse.Namespace, cfg: Any) -> bool:
    """--allow-inconclusive, else the config's allow_inconclusive, else False."""
    if args.allow_inconclusive is not None:
        return bool(args.allow_inconclusive)
    return bool(cfg.allow_inconclusive) if cfg is not None else False


def _exit_code(result: Any, allow_inconclusive: bool) -> int:
    from audit.ci import exit_code

    return exit_code(result, allow_inconclusive=allow_inconclusive)


def _write_ci_file(flag: str, result: Any, allow: bool, target: Path, shown: Path) -> Path:
    """The JUnit XML (--junit) or Markdown summary (--summary), with the run's verdict semantics."""
    from audit.ci import junit_xml, markdown_summary
    from audit.results import write_atomic

    write_atomic(target, junit_xml(result, allow_inconclusive=allow) if flag == "--junit"
                 else markdown_summary(result, allow_inconclusive=allow))
    return shown


def _cmd_gate(args: argparse.Namespace) -> int:
    """`audit gate results.json [--config …] [--baseline …]`: the verdicts of `audit run`, from saved results."""
    from audit.ci import regate, with_baseline
    from audit.results import AuditResult, check_output

    cfg = None
    if args.config:
        from audit.config import load_config

        cfg = load_config(args.config)
    baseline_path = args.baseline or (str(cfg.baseline.path) if cfg and cfg.baseline else None)
    saved = AuditResult.load(args.results)
    baseline = AuditResult.load(baseline_path) if baseline_path else None
    inputs = [args.results, baseline_path, args.config]
    outputs = {"--junit": args.junit, "--summary": args.summary, "-o": args.output}
    for flag, path in outputs.items():  # checked before anything is written
        if path:
            check_output(path, what=flag, inputs=inputs)
    result = regate(saved, cfg.thresholds if cfg else None)
    if baseline is not None:
        tolerance = args.tolerance if args.tolerance is not None else (cfg.baseline.tolerance if cfg and cfg.baseline else DEFAULT_TOLERANCE)
        result = with_baseline(result, baseline, tolerance, str(baseline_path))
    if cfg is not None:
        cfg.check_gates(result)
    allow = _allow_inconclusive(args, cfg)
    written = {flag.lstrip("-"): _write_ci_file(flag, result, allow, Path(p), Path(p))
               for flag, p in outputs.items() if p and flag != "-o"}
    if args.output:
        written["results"] = result.save(args.output)
    _print_summary(result, written, allow)
    return _exit_code(result, allow)


def _extra_outputs(out: Path, paths: dict[str, str | None], inputs: list[Any]) -> dict[str, tuple[Path, Path | None]]:
    """Check --junit and --summary before the run. Each maps to (path, path relative to --out when it lies
    inside it: then it is written into the new set, which replaces the folder)."""
    from audit.outdir import LOCK, SET_NAMES
    from audit.results import check_output

    chosen = {flag: Path(p) for flag, p in paths.items() if p}
    if len(chosen) == 2 and len({p.resolve() for p in chosen.values()}) == 1:
        raise AuditError(f"--junit and --summary are the same file ({chosen['--junit']}); give each its own path")
    checked: dict[str, tuple[Path, Path | None]] = {}
    for flag, path in chosen.items():
        check_output(path, what=flag, inputs=inputs, create_parents=True)
        real_out, real = out.resolve(), path.resolve()
        rel = real.relative_to(real_out) if real_out in real.parents else None
        if rel is not None and rel.parts[0] in (*SET_NAMES, LOCK):
            raise AuditError(f"{flag} {path} is a file the run itself writes into --out; name another file")
        checked[flag] = (path, rel)
    return checked


def _dry_run(spec: RunSpec) -> int:
    from audit import dryrun
    from audit.loading import load
    from audit.runner import build_probes

    m = load(spec.model, task=spec.task, device=spec.device, dtype=spec.dtype, batch_size=spec.batch_size, use_cache=False,
             offline=spec.offline, trust_remote_code=spec.trust_remote_code, allow_pickle=spec.allow_pickle, progress=False,
             allow_missing_weights=spec.allow_missing_weights, max_length=spec.max_length, revision=spec.revision)
    probes, skipped = build_probes(m, suites=spec.suites, probes=spec.probes, probe_params=spec.probe_params,
                                   thresholds=spec.thresholds, seed=spec.seed, max_cases=spec.max_cases)
    from audit.budget import token_budget

    budget = token_budget(spec.max_tokens, spec.max_cases)
    rows, rate = dryrun.plan(m, probes, budget)
    print(dryrun.render(m, rows, rate, [s.probe for s in skipped], budget))
    from audit.gates import max_cases_warnings

    gated = {p.name: list(p.default_thresholds if p.thresholds is None else p.thresholds) for p in probes}
    for line in max_cases_warnings(spec.max_cases, gated, {p.name: p.metric_specs for p in probes}):
        print(f"audit: warning: {line}", file=sys.stderr)
    return EXIT_OK


def _write_outputs(result: Any, out: Path) -> dict[str, Path]:
    import reports

    written = {"results": result.save(out / "results.json")}
    written.update(reports.write_report(result, out))
    return written


SUMMARY_WIDTH = 100
"""Characters per line of the closing summary (one screen wide); the report has every sentence whole."""


def _fit(line: str) -> str:
    return line if len(line) <= SUMMARY_WIDTH else line[: SUMMARY_WIDTH - 1] + "…"


def _print_summary(result: Any, written: dict[str, Path], allow_inconclusive: bool = False) -> None:
    from audit.gates import worst

    gates = result.gates
    fails = [g for g in gates if g.status == "fail"]
    unsure = [g for g in gates if g.status == "inconclusive"]
    from audit.budget import over_budget

    skipped = [p.probe for p in result.probes if p.status == "skipped" and not over_budget(p)]
    for p in result.probes:
        if p.status != "skipped" or over_budget(p):
            status = worst(g.status for g in p.gates) if p.status == "ok" and p.gates else p.status
            print(_fit(f"  {status:12} {p.probe:26} {p.headline}"))
    if skipped:
        print(_fit(f"  {'skip':12} {len(skipped)} probes that do not apply to a {result.model.task} model: "
                   f"{', '.join(skipped)}"))
    for g in fails:
        print(_fit(f"  FAIL {g.probe}: {g.reason}"))
    for g in unsure:
        print(_fit(f"  {'WARN' if allow_inconclusive else 'INCONCLUSIVE'} {g.probe}: {g.reason}"))
    print(f"{len(gates) - len(fails) - len(unsure)} gates passed, {len(fails)} failed, {len(unsure)} inconclusive"
          + (" (allowed)" if unsure and allow_inconclusive else " (not a pass: exit 4)" if unsure and not fails else "")
          + (f" in {result.timings['total']:.1f} s" if "total" in result.timings else ""))
    for kind, path in written.items():
        if kind in ("results", "html", "md", "junit", "summary"):
            print(f"  {kind}: {path}")


def _cmd_list(args: argparse.Namespace) -> int:
    from probes.base import get_probe, registry

    if not getattr(args, "probe", None):
        for name, cls in registry().items():
            print(f"{name:32} [{cls.suite}] {cls.title} (needs: {cls.needs()})")
        return EXIT_OK
    from audit.config import _hint_text

    cls = get_probe(args.probe)
    print(f"{cls.name} [{cls.suite}] {cls.title} (needs: {cls.needs()})")
    print("parameters (set under probes: in a config):")
    for p in cls.parameters().values():
        if p.name != "thresholds":
            print(f"  {p.name}: {_hint_text(p.type)} = {p.default!r} — {p.doc}")
    gates = {t.metric: t for t in cls.default_thresholds}
    print("metrics (gate them under thresholds: in a config):")
    for s in cls.metric_specs:
        good = (f"ideal {s.ideal:g}" if s.ideal is not None else
                "not gateable" if s.higher_is_better is None else "higher is better" if s.higher_is_better else "lower is better")
        extra = "".join([f"; groups: {s.groups}" if s.groups else "", f"; default gate {gates[s.name].value:g}" if s.name in gates else ""])
        print(f"  {s.name} ({good}{extra})")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    import reports
    from audit.results import AuditResult, check_output, write_atomic

    result = AuditResult.load(args.results)
    out = check_output(args.output, what="-o", inputs=[args.results])
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


class Terminated(BaseException):
    """SIGTERM (a CI job cancelled, a container stopped): unwinds like Ctrl-C, so the output folder's lock
    and staging folder are cleaned up. A BaseException, so no ``except Exception`` swallows it."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


class _Stdout:
    """sys.stdout whose write errors are user errors: a full disk (``> /dev/full``) is exit 2, a closed pipe
    (``| head -1``) ends the command quietly."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _guard(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise AuditError(f"cannot write to standard output ({exc.strerror or exc}); check where it is redirected") from None

    def write(self, text: str) -> int:
        return self._guard(self._stream.write, text)

    def flush(self) -> None:
        self._guard(self._stream.flush)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _quiet_closed_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's last flush does not complain."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        if sys.__stdout__ is not None:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    for stream in (sys.stdout, sys.stderr):  # PYTHONIOENCODING=ascii and a non-ASCII path: escape, never crash
        reconfigure = getattr(stream, "reconfigure", None)  # a replaced stream (a test's capture) may have none
        with contextlib.suppress(ValueError):
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")
    real_stdout, sys.stdout = sys.stdout, _Stdout(sys.stdout)
    try:
        previous_sigterm = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        previous_sigterm = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        handler = {"run": _cmd_run, "list": _cmd_list, "report": _cmd_report, "gate": _cmd_gate}.get(args.command) or args.handler
        code = int(handler(args))
        sys.stdout.flush()
        return code
    except AuditError as exc:
        if debug:
            raise
        print(f"audit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `audit list | head -1`: the reader has all it wanted
        _quiet_closed_stdout()
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print("audit: interrupted; completed batches are cached and a re-run resumes from them", file=sys.stderr)
        return 130
    except Terminated:
        print("audit: terminated (SIGTERM); nothing half-written is left, completed batches are cached and a re-run "
              "resumes from them", file=sys.stderr)
        return 128 + signal.SIGTERM
    except Exception as exc:  # last line of defence: one line, not a traceback
        if debug:
            raise
        print(f"audit: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
              "(re-run with --debug for the traceback and please report it)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        sys.stdout = real_stdout
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
