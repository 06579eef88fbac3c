"""audit.data_sources: every kind of source gives the same columns; a missing column, file or cache is one line."""
from __future__ import annotations

import json

import datasets
import pandas as pd
import pytest

from audit.data_sources import load_columns
from audit.errors import AuditError

ROWS = {"text": ["a good day", "a bad day", "fine"], "label": ["positive", "negative", "positive"], "dialect": ["x", "y", "x"]}


def _sources(tmp_path):
    df = pd.DataFrame(ROWS)
    csv = tmp_path / "d.csv"
    df.to_csv(csv, index=False)
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps(dict(zip(ROWS, v))) + "\n" for v in zip(*ROWS.values())), encoding="utf-8")
    parquet = tmp_path / "d.parquet"
    df.to_parquet(parquet)
    return {"csv": str(csv), "jsonl": jsonl, "parquet": str(parquet), "frame": df, "dataset": datasets.Dataset.from_pandas(df)}


def test_every_source_gives_the_same_columns(tmp_path):
    for name, source in _sources(tmp_path).items():
        cols = load_columns(source, ["text", "label"], optional=["dialect", "absent"])
        assert cols == ROWS, name


def test_missing_columns_are_named_with_the_existing_ones(tmp_path):
    for source in _sources(tmp_path).values():
        with pytest.raises(AuditError, match=r"has no columns 'lang', 'group' \(its columns: text, label, dialect\)"):
            load_columns(source, ["text", "lang", "group"])


def test_files_that_cannot_be_read_are_one_line(tmp_path):
    with pytest.raises(AuditError, match="not found"):
        load_columns(str(tmp_path / "nope.csv"), ["text"])
    (tmp_path / "d.txt").write_text("text\nx\n")
    with pytest.raises(AuditError, match=r"unsupported extension '\.txt'"):
        load_columns(str(tmp_path / "d.txt"), ["text"])
    (tmp_path / "h.csv").write_text("text,label\n")
    with pytest.raises(AuditError, match="has no rows"):
        load_columns(str(tmp_path / "h.csv"), ["text"])
    with pytest.raises(AuditError, match="DatasetDict with splits train; pass one split"):
        load_columns(datasets.DatasetDict({"train": datasets.Dataset.from_dict(ROWS)}), ["text"])
    with pytest.raises(AuditError, match="not a file, a hub dataset id"):
        load_columns(42, ["text"])


def _cache_hub_dataset(cache, csv):
    """Lay out the datasets cache as a hub download of ``org/name`` leaves it (config 'default')."""
    from datasets.packaged_modules.csv.csv import Csv

    builder = Csv(cache_dir=str(cache), dataset_name="org___name", config_name="default", data_files={"train": str(csv)}, hash="0" * 16)
    builder.download_and_prepare()
    built = next((cache / "org___name").iterdir())
    built.rename(cache / "org___name" / "default")
    folder = cache / "org___name" / "default" / "0.0.0" / ("0" * 16)
    (folder / "org___name-train.arrow").rename(folder / "name-train.arrow")


def test_hub_dataset_id_reads_the_local_cache_offline(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    pd.DataFrame(ROWS).to_csv(tmp_path / "d.csv", index=False)
    _cache_hub_dataset(cache, tmp_path / "d.csv")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)  # as if datasets was imported with the hub on
    assert load_columns("org/name", ["text", "label"], optional=["dialect"]) == ROWS
    assert load_columns("org/name:train", ["text"])["text"] == ROWS["text"]
    with pytest.raises(AuditError, match="'org/other': it is not in the local datasets cache"):
        load_columns("org/other", ["text"])
    assert datasets.config.HF_HUB_OFFLINE is False  # the switch is set for the call only


def test_lexicon_and_weat_sets_also_come_as_tables(tmp_path):
    """Tables go through the same merge as the YAML layouts: the new axis and test appear, built-ins stay."""
    from probes.bias.association import load_tests
    from probes.bias.lexicon import load_lexicon

    lex_rows = pd.DataFrame({"axis": ["profession"] * 4, "group": ["doctors", "doctors", "cleaners", "cleaners"],
                             "term": ["a doctor", "a surgeon", "a cleaner", "a janitor"]})
    lex_rows.to_csv(tmp_path / "lex.csv", index=False)
    for source in (lex_rows, str(tmp_path / "lex.csv"), datasets.Dataset.from_pandas(lex_rows)):
        lex = load_lexicon(source)
        assert [t.label for _, t in lex.axes["profession"].terms] == ["a doctor", "a surgeon", "a cleaner", "a janitor"]
        assert "gender" in lex.axes
    sides = {"X": ["rose", "tulip"], "Y": ["ant", "wasp"], "A": ["love", "peace"], "B": ["filth", "grief"]}
    sets = pd.DataFrame([{"test": "mine", "side": s, "word": w} for s, ws in sides.items() for w in ws])
    lists, tests, _ = load_tests(sets)
    assert tests["mine"] == {s: f"mine_{s}" for s in sides} and lists["mine_A"] == ["love", "peace"]
    assert set(load_tests()[1]) < set(tests)  # the built-in tests stay
    with pytest.raises(AuditError, match="no column 'side'"):
        load_tests(sets.drop(columns="side"))
    with pytest.raises(AuditError, match="row 1: side must be one of X, Y, A, B"):
        load_tests(sets.assign(side="Q"))


def test_pairs_file_and_consistency_dataset_take_in_memory_tables():
    from probes.bias.crows_pairs import load_pairs_file
    from probes.multilingual.consistency import load_dataset

    pairs = pd.DataFrame({"sent_more": ["The poor are lazy."], "sent_less": ["The rich are lazy."],
                          "stereo_antistereo": ["stereo"], "bias_type": ["socioeconomic"]})
    [pair] = load_pairs_file(pairs)
    assert (pair.stereo, pair.anti, pair.bias_type) == ("The poor are lazy.", "The rich are lazy.", "socioeconomic")
    rows = datasets.Dataset.from_dict({"text": ["bonjour", "hello"], "label": ["LABEL_0", "LABEL_1"], "lang": ["fr", "en"]})
    assert load_dataset(rows) == {"text": ["bonjour", "hello"], "label": ["LABEL_0", "LABEL_1"], "lang": ["fr", "en"]}
    with pytest.raises(AuditError, match=r"<Dataset, 2 rows, content \w+>, row 0: 'text' is empty"):
        load_dataset(datasets.Dataset.from_dict({"text": ["", "x"], "label": ["a", "b"], "lang": ["fr", "en"]}))
