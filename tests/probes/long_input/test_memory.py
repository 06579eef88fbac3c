"""An 8k-token input goes through in batches under the engine's token budget, windows batched, not looped."""
from __future__ import annotations

from audit.engine import PAD_MULTIPLE
from probes.long_input import haystack
from probes.long_input.needle import NeedleProbe


def test_8k_token_input_stays_under_the_token_budget(tiny_path):
    from audit.loading import load

    model = load(str(tiny_path("bert-classifier")), progress=False, use_cache=False, token_budget=2048)
    widths: list[tuple[int, int]] = []
    forward = model.engine._forward

    def spy(fn, seqs, extras):
        widths.append((len(seqs), max(len(s) for s in seqs)))
        return forward(fn, seqs, extras)

    model.engine._forward = spy
    result = NeedleProbe(needles=["It was good."], lengths=[64, 8192], depths=[0.5], strategies=["window_max"]).run(model)
    hays = haystack.build(model.engine, ["It was good."], [8192], [0.5], 0)
    assert hays[0].tokens == 8192
    rows, _ = model.engine.shape_long([hays[0].text], "window_max")
    assert len(rows) > 200  # ~8190 content tokens in windows of 62 overlapping by 31
    assert all(n * -(-w // PAD_MULTIPLE) * PAD_MULTIPLE <= 2048 for n, w in widths)  # every batch within the budget
    assert max(n for n, _ in widths) > 1  # windows share batches
    assert len(widths) < len(rows) / 4
    assert result.tables["truncation"][-1]["share_dropped"] > 0.99
