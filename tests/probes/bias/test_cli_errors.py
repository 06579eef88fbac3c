"""The user mistakes of the bias suite reach the command line as one line and exit code 2."""
from __future__ import annotations

import pytest
import yaml

from audit.cli import main


@pytest.mark.parametrize("kind, probe, params, message", [
    ("bert-classifier", "bias.counterfactual", {"target": "LABEL_9"}, "unknown label"),
    ("bert-classifier", "bias.counterfactual", {"axes": ["gendr"]}, "did you mean 'gender'"),
    ("bert-mlm", "bias.crows_pairs", {"pairs_file": "PAIRS"}, "no columns 'stereo_antistereo', 'bias_type'"),
])
def test_bad_bias_input_exits_2_with_one_line(tmp_path, tiny_path, capsys, kind, probe, params, message):
    if params.get("pairs_file") == "PAIRS":
        pairs = tmp_path / "pairs.csv"
        pairs.write_text("sent_more,sent_less\nThe woman cried.,The man cried.\n", encoding="utf-8")
        params = {"pairs_file": str(pairs)}
    model_path = str(tiny_path(kind))
    capsys.readouterr()  # building the tiny model may print progress
    cfg = tmp_path / "audit.yaml"
    cfg.write_text(yaml.safe_dump({"probes": {probe: params}}), encoding="utf-8")
    code = main(["run", model_path, "--probe", probe, "--config", str(cfg), "--no-explain", "--no-cache",
                 "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
