"""Data-parallel audits under `accelerate launch` give the same results as one process."""
import contextlib
import json
import shutil
import subprocess
import sys

import pytest

VOLATILE = ("timings", "throughput")


def _stable(path):
    data = json.loads(path.read_text())
    for key in VOLATILE:
        data.pop(key)
    data["environment"].pop("command", None)
    for p in data["probes"]:
        p.pop("seconds")
    return data


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate is not installed")
def test_two_processes_match_one(tiny_path, tmp_path):
    model = str(tiny_path("bert-classifier"))
    common = ["run", model, "--probe", "robustness.perturbation", "--no-explain", "--quiet", "--no-cache"]
    one = subprocess.run([sys.executable, "-m", "audit", *common, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=300)
    assert one.returncode in (0, 1), one.stderr
    two = subprocess.run(["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "audit", *common,
                          "--out", str(tmp_path / "two")], capture_output=True, text=True, timeout=300)
    assert two.returncode == one.returncode, two.stderr[-2000:]
    assert _stable(tmp_path / "one" / "results.json") == _stable(tmp_path / "two" / "results.json")


def test_engine_splits_the_plan_across_processes(tiny, monkeypatch):
    """Each process takes every world-th batch of the same plan; outputs are gathered in order."""
    from audit import distributed

    m = tiny("bert-classifier")
    texts = [f"text number {i} " * (1 + i % 7) for i in range(40)]
    m.engine.token_budget = 64
    expected = m.logits(texts)
    computed = {}
    for rank in (0, 1):
        store = []
        monkeypatch.setattr(distributed, "gather", lambda items, store=store: store.append(items) or items)
        m.engine.rank, m.engine.world = rank, 2
        m.engine.cache = type(m.engine.cache)(None)
        calls_before = m.engine.stats.sequences
        with contextlib.suppress(KeyError):  # a lone process cannot finish without its peer's half: expected here
            m.logits(texts)
        computed[rank] = m.engine.stats.sequences - calls_before
    m.engine.rank, m.engine.world = 0, 1
    assert computed[0] > 0 and computed[1] > 0 and computed[0] + computed[1] == len(set(texts))
    import numpy as np

    np.testing.assert_allclose(m.logits(texts), expected, atol=1e-6)
