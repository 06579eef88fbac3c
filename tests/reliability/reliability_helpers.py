"""Helpers for the reliability suite: the CLI run as a user runs it, and broken or hostile model folders.

Every model here is a tiny real model written with ``save_pretrained`` (``audit.testing.build``) and then
damaged the way a download, a disk or an adversary damages one.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def audit_subprocess(*argv: str, timeout: float = 180, env: dict[str, str] | None = None,
                     cwd: Path | None = None) -> CliRun:
    """``python -m audit ARGV`` in a child process, the real entry point; a hang is a test failure."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
    try:
        proc = subprocess.run([sys.executable, "-m", "audit", *map(str, argv)], capture_output=True, text=True,
                              timeout=timeout, env=full_env, cwd=cwd or REPO)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"`audit {' '.join(map(str, argv))}` hung for {timeout} s") from exc
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


# ------------------------------------------------------------------------------------------ model folders
def _copy(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


def _edit_config(folder: Path, edit: Callable[[dict], None]) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    edit(cfg)
    (folder / "config.json").write_text(json.dumps(cfg))


def _with_bias(base: Path, dst: Path, value: float) -> Path:
    """A copy of a tiny classifier whose classifier bias is ``value`` (NaN or inf logits)."""
    import transformers as tr

    model = tr.AutoModelForSequenceClassification.from_pretrained(base)
    state = model.state_dict()
    state["classifier.bias"][:] = value
    model.load_state_dict(state)
    model.save_pretrained(dst)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(base / name, dst / name)
    return dst


def _gpt2_classifier(dst: Path) -> Path:
    """A GPT-2-style classifier whose tokenizer has no pad token (and config no pad_token_id)."""
    import torch
    import transformers as tr

    from audit import testing

    torch.manual_seed(0)
    tok = testing.bpe_tokenizer("gpt2")
    tok.model_max_length = 64
    cfg = tr.GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2, num_labels=2,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    tr.GPT2ForSequenceClassification(cfg).save_pretrained(dst)
    tok.save_pretrained(dst)
    assert tok.pad_token is None and cfg.pad_token_id is None
    return dst


HTML_LABELS = ["<script>document.title='PWNED'</script>", "<img src=x onerror=\"document.body.dataset.pwned=1\">"]


def build_variants(base: Path, root: Path) -> dict[str, Path]:
    v: dict[str, Path] = {}
    v["no_config"] = _copy(base, root / "no_config")
    (v["no_config"] / "config.json").unlink()
    v["corrupt_config"] = _copy(base, root / "corrupt_config")
    (v["corrupt_config"] / "config.json").write_text('{"model_type": "bert", ')
    v["list_config"] = _copy(base, root / "list_config")
    (v["list_config"] / "config.json").write_text("[1, 2, 3]")
    v["config_no_model_type"] = _copy(base, root / "config_no_model_type")
    _edit_config(v["config_no_model_type"], lambda c: c.pop("model_type"))
    v["config_wrong_types"] = _copy(base, root / "config_wrong_types")
    _edit_config(v["config_wrong_types"], lambda c: c.update(hidden_size="big", num_hidden_layers="two"))
    v["truncated_weights"] = _copy(base, root / "truncated_weights")
    w = v["truncated_weights"] / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    v["empty_weights"] = _copy(base, root / "empty_weights")
    (v["empty_weights"] / "model.safetensors").write_bytes(b"")
    v["no_weights"] = _copy(base, root / "no_weights")
    (v["no_weights"] / "model.safetensors").unlink()
    v["no_tokenizer"] = _copy(base, root / "no_tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (v["no_tokenizer"] / name).unlink()
    v["corrupt_tokenizer"] = _copy(base, root / "corrupt_tokenizer")
    (v["corrupt_tokenizer"] / "tokenizer.json").write_text("garbage{")
    v["empty_folder"] = root / "empty_folder"
    v["empty_folder"].mkdir()
    v["a_file"] = root / "a_file"
    v["a_file"].write_text("not a model\n")
    v["pickled"] = _copy(base, root / "pickled")
    _to_pickle(v["pickled"])
    v["remote_code"] = remote_code_model(base, root / "remote_code", root / "PWNED")
    v["symlink_out"] = _copy(base, root / "symlink_out")
    (root / "secret.txt").write_text("outside the model folder\n")
    (v["symlink_out"] / "notes.txt").symlink_to(root / "secret.txt")
    v["symlink_loop"] = _copy(base, root / "symlink_loop")
    (v["symlink_loop"] / "a").symlink_to(v["symlink_loop"] / "b")
    (v["symlink_loop"] / "b").symlink_to(v["symlink_loop"] / "a")
    v["nan_logits"] = _with_bias(base, root / "nan_logits", float("nan"))
    v["inf_logits"] = _with_bias(base, root / "inf_logits", float("inf"))
    v["gpt2_no_pad"] = _gpt2_classifier(root / "gpt2_no_pad")
    # round two (issue 19)
    v["no_labels"] = _copy(base, root / "no_labels")
    _edit_config(v["no_labels"], lambda c: c.update(id2label={}))
    v["huge_positions"] = _copy(base, root / "huge_positions")
    _edit_config(v["huge_positions"], lambda c: c.update(max_position_embeddings=1e30))
    v["negative_tokenizer_limit"] = _copy(base, root / "negative_tokenizer_limit")
    tok_cfg = v["negative_tokenizer_limit"] / "tokenizer_config.json"
    tok_cfg.write_text(json.dumps({**json.loads(tok_cfg.read_text()), "model_max_length": -5}))
    v["deep_config"] = _copy(base, root / "deep_config")
    text = (v["deep_config"] / "config.json").read_text().rstrip()
    (v["deep_config"] / "config.json").write_text(text[:-1] + ', "nested": ' + "[" * 100_000 + "]" * 100_000 + "}")
    v["wrong_size_weights"] = _copy(base, root / "wrong_size_weights")
    _edit_config(v["wrong_size_weights"], lambda c: c.update(hidden_size=2 * c["hidden_size"]))
    return v


def remote_code_model(base: Path, dst: Path, marker: Path) -> Path:
    """A classifier whose config.json asks for its own Python code (auto_map); the code leaves ``marker``
    behind when it runs and is otherwise an ordinary BERT classifier."""
    _copy(base, dst)
    _edit_config(dst, lambda c: c.update(auto_map={"AutoModelForSequenceClassification": "evil.EvilModel"}))
    (dst / "evil.py").write_text(
        "from pathlib import Path\n\nfrom transformers import BertForSequenceClassification\n\n"
        f"Path({str(marker)!r}).write_text('the model folder ran its own code')\n\n\n"
        "class EvilModel(BertForSequenceClassification):\n    pass\n")
    return dst


def malicious_pickle(path: Path, marker: Path) -> None:
    """A pytorch_model.bin that writes ``marker`` when unpickled with weights_only=False."""
    import pickle

    class Payload:
        def __reduce__(self) -> tuple:
            return (exec, (f"open({str(marker)!r}, 'w').write('unpickled')",))

    path.write_bytes(pickle.dumps({"bert.embeddings.word_embeddings.weight": Payload()}))


def _to_pickle(folder: Path) -> None:
    """Replace model.safetensors by a pickled pytorch_model.bin holding the same tensors."""
    import torch
    from safetensors.torch import load_file

    state = load_file(folder / "model.safetensors")
    torch.save(state, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()


def write_config(folder: Path, text: str, name: str = "audit.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def without_timing(data: object) -> object:
    """results.json minus what differs between two identical runs: times, throughput, the command line."""
    drop = {"seconds", "timings", "throughput", "sequences_per_s", "tokens_per_s", "command"}
    if isinstance(data, dict):
        return {k: without_timing(v) for k, v in data.items() if k not in drop}
    if isinstance(data, list):
        return [without_timing(v) for v in data]
    return data
