"""Audit a model from Python and gate it, as a CI script would.

    python examples/python_api.py                 # the packaged default model
    python examples/python_api.py path/to/model   # any local folder or hub id

Exit code 0 when every gate passes, 1 when one fails, 4 when none fails but one is inconclusive — the same
contract as `audit run` (audit.ci.exit_code).
"""
from __future__ import annotations

import sys

import audit
from audit.ci import exit_code, junit_xml, markdown_summary
from audit.gates import Threshold
from probes.bias.counterfactual import CounterfactualProbe


def main(model: str = "default", out: str | None = None) -> int:
    # 1. One call runs the chosen probes with their thresholds and returns the results as data.
    result = audit.run(
        model,
        probes=["robustness.perturbation", "bias.counterfactual"],
        probe_params={"bias.counterfactual": {"axes": ["gender", "age"]}},
        thresholds={
            "robustness.perturbation": [Threshold("flip_rate", 0.35)],
            "bias.counterfactual": [Threshold("max_gap", 0.12)],
        },
        explain=False,
        progress=False,
    )
    for gate in result.gates:
        print(f"{gate.status:12} {gate.probe}: {gate.reason}")

    # 2. A probe can also run on its own, on a loaded model.
    loaded = audit.load(model, progress=False)
    gender = CounterfactualProbe(axes=["gender"]).run(loaded)
    print(gender.headline)

    # 3. CI outputs: JUnit XML (one test case per gate) and a Markdown job summary.
    if out:
        from pathlib import Path

        Path(out).mkdir(parents=True, exist_ok=True)
        Path(out, "junit.xml").write_text(junit_xml(result), encoding="utf-8")
        Path(out, "summary.md").write_text(markdown_summary(result), encoding="utf-8")
    return exit_code(result)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
