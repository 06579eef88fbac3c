"""The language registry, CLDR inheritance and word finding, against the packages read directly."""
from __future__ import annotations

import unicodedata

import pytest
import wordfreq
from babel import Locale, localedata

from audit.errors import AuditError
from probes.multilingual import languages as L
from probes.multilingual import segment
from probes.multilingual.common import speakers_of


def test_registry_holds_700_languages_with_text_in_100_scripts():
    reg = L.registry()
    assert len(reg) >= 700
    assert sum(1 for x in reg.values() if x.sample) >= 700
    assert len({x.script for x in reg.values()}) >= 100
    assert all(x.has_text for x in reg.values())
    assert reg[L.ENGLISH].cldr_locale == "en"


def test_own_cldr_names_leave_out_what_a_locale_inherits():
    """pt_PT restates some Portuguese names and inherits the rest: only its own differing names count."""
    own = L.cldr_own_names("pt_PT")
    merged = localedata.load("pt_PT")
    parent = localedata.load("pt")
    shown = {f"lang:{k}": v for k, v in merged["languages"].items()} | {f"terr:{k}": v for k, v in merged["territories"].items()}
    from_parent = {f"lang:{k}": v for k, v in parent["languages"].items()} | {f"terr:{k}": v for k, v in parent["territories"].items()}
    assert 0 < len(own) < len(shown) / 2
    for k, v in own.items():
        assert shown[k] == v  # what the locale shows
        assert from_parent.get(k) != v  # and not what it inherits
    inherited = [k for k in shown if from_parent.get(k) == shown[k]]
    assert inherited and not set(inherited) & set(own)


def test_a_locale_without_names_of_its_own_gets_no_cldr_text_and_babel_is_untouched():
    """Norwegian Bokmål's CLDR file holds no names (they live in 'no'); babel's own cache must stay merged."""
    assert L.cldr_own_names("nb") == {}
    assert L.registry()["nb_Latn"].cldr_locale is None
    assert len(Locale.parse("nb").languages) > 400


def test_tiers_follow_the_stated_rule():
    reg = L.registry()
    large, small = set(wordfreq.available_languages("large")), set(wordfreq.available_languages("small"))
    assert reg["en_Latn"].tier == "high" and "en" in large
    assert reg["ms_Latn"].tier == "medium" and "ms" in small and "ms" not in large
    assert reg["yo_Latn"].tier == "low" and "yo" not in small and reg["yo_Latn"].cldr_locale
    assert all(x.tier == "historical" for x in reg.values() if x.historical)
    very_low = [x for x in reg.values() if x.tier == "very low"]
    assert very_low and all(x.cldr_locale is None and x.speakers < 1_000_000 and x.wordfreq is None for x in very_low)


def test_parallel_names_pair_a_language_with_english_by_key():
    reg = L.registry()
    pairs = L.parallel_names(reg["fr_Latn"])
    assert pairs["terr:DE"] == ("Allemagne", "Germany")
    assert pairs["lang:fr"] == ("français", "French")


def test_resolve_accepts_codes_and_refuses_unknown_ones_with_close_matches():
    assert [x.code for x in L.resolve(["yo", "sr_Latn", "yo-Latn", "zh_Hant"])] == ["yo_Latn", "sr_Latn", "zh_Hant"]
    with pytest.raises(AuditError, match=r"unknown language code 'yo_Latm'.*did you mean 'yo_Latn'"):
        L.resolve(["yo_Latm"])
    with pytest.raises(AuditError, match="unknown language code 'qqq'"):
        L.resolve(["qqq"])


def test_a_language_the_packages_know_without_text_is_refused():
    import gflanguages

    reg = L.registry()
    textless = next(k for k, v in gflanguages.LoadLanguages().items()
                    if k not in reg and not any(r.language == v.language for r in reg.values()))
    with pytest.raises(AuditError, match="has no text in the installed packages"):
        L.resolve([textless])


def test_words_strip_edge_punctuation_and_drop_numbers():
    assert segment.words("«Tous les êtres humains», 1948 — l’homme (libres)!") == ["Tous", "les", "êtres", "humains", "l’homme", "libres"]


def test_unspaced_text_is_cut_into_grapheme_clusters():
    thai = "มนุษย์ทั้งหลาย"
    kind, units = segment.units(thai)
    assert kind == "cluster"
    assert "".join(units) == thai  # nothing lost, nothing added
    assert all(unicodedata.category(u[0])[0] == "L" for u in units)  # each starts at a base letter
    assert "นุ" in units  # a consonant with its vowel mark is one unit
    assert segment.units("人人生而自由，在尊严和权利上一律平等。")[1] == list("人人生而自由在尊严和权利上一律平等")
    assert segment.units("All human beings are born free")[0] == "word"


def test_speakers_count_each_language_once():
    rows = [{"code": "sr_Cyrl", "speakers": 7_000_000}, {"code": "sr_Latn", "speakers": 8_000_000}, {"code": "hr_Latn", "speakers": 5}]
    assert speakers_of(rows) == 8_000_005
