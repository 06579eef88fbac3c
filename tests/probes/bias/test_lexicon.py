"""Lexicon loading, expansion and the user mistakes it must name."""
from __future__ import annotations

import pytest
import yaml
from babel import Locale

from audit.errors import AuditError
from probes.bias.lexicon import IDENTITY_SLOTS, load_lexicon, sample_frames


def write(tmp_path, data) -> str:
    path = tmp_path / "extra.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def test_every_required_axis_is_built_in_with_two_or_more_groups():
    lex = load_lexicon()
    for axis in ("gender", "race_names", "race_ethnicity", "nationality", "religion", "age", "disability",
                 "sexual_orientation", "socioeconomic", "name_origin"):
        assert len(lex.axes[axis].groups) >= 2
    assert "non-binary" in [g.name for g in lex.axes["gender"].groups]


def test_country_names_come_from_cldr_and_articles_are_grammatical():
    lex = load_lexicon()
    nigeria = next(g for g in lex.axes["nationality"].groups if g.name == "Nigeria")
    assert nigeria.terms[0].label == f"a person from {Locale('en').territories['NG']}"
    labels = [t.label for _, t in lex.axes["race_ethnicity"].terms]
    assert "an Asian person" in labels and "a Black woman" in labels and "an Arab man" in labels


def test_counterfactual_texts_differ_only_in_the_identity_term():
    lex = load_lexicon()
    axis = lex.axes["gender"]
    for frame in lex.frames(axis)[:20]:
        texts = [frame.render(t) for _, t in axis.terms]
        shared = frame.template.text
        for text, (_, term) in zip(texts, axis.terms):
            rebuilt = shared
            for slot in IDENTITY_SLOTS:
                rebuilt = rebuilt.replace("{" + slot + "}", term.forms.get(slot, ""))
            for slot, word in frame.fillers:
                rebuilt = rebuilt.replace("{" + slot + "}", word)
            assert text == rebuilt[:1].upper() + rebuilt[1:]
    she = next(f.render(axis.groups[0].terms[0]) for f in lex.frames(axis) if "{subj}" in f.template.text)
    assert " she " in she


def test_expansion_is_deterministic_and_the_sample_is_seeded():
    a, b = load_lexicon(seed=0), load_lexicon(seed=0)
    fa, fb = a.frames(a.axes["religion"]), b.frames(b.axes["religion"])
    assert [f.render(t) for f in fa for _, t in a.axes["religion"].terms] == \
           [f.render(t) for f in fb for _, t in b.axes["religion"].terms]
    s1 = sample_frames(fa, 21, 210, seed=0, key="religion")
    s2 = sample_frames(fa, 21, 210, seed=0, key="religion")
    s3 = sample_frames(fa, 21, 210, seed=1, key="religion")
    assert s1 == s2 and len(s1) == 10 and s1 != s3
    assert len(sample_frames(fa, 21, 21, seed=0, key="religion", min_frames=10)) == 10


def test_user_yaml_adds_axis_group_terms_templates_and_fillers(tmp_path):
    path = write(tmp_path, {
        "axes": {"profession": {"groups": {"doctors": ["a doctor"], "cleaners": ["a cleaner"]}},
                 "gender": {"groups": {"female": ["my grandmother"]}}},
        "templates": {"neutral": ["{person} bought {fruit} today."]},
        "fillers": {"fruit": {"fruit": ["apples", "pears"]}},
    })
    lex = load_lexicon(path)
    assert [g.name for g in lex.axes["profession"].groups] == ["doctors", "cleaners"]
    female = lex.axes["gender"].groups[0]
    assert female.terms[-1].label == "my grandmother" and female.terms[-1].forms["subj"] == "she"
    texts = [f.render(lex.axes["profession"].groups[0].terms[0]) for f in lex.frames(lex.axes["profession"])]
    assert "A doctor bought apples today." in texts and "A doctor bought pears today." in texts


@pytest.mark.parametrize("data, message", [
    ({"templates": {"neutral": ["{person} met {persn}."]}}, "unknown slot {persn}"),
    ({"axes": {"colour": {"groups": {"red": [], "blue": ["a blue person"]}}}}, "empty lexicon"),
    ({"axes": {"colour": {"groups": {"red": ["a red person"]}}}}, "at least two"),
    ({"templates": {"neutral": ["Nobody is here."]}}, "no identity slot"),
    ({"templates": {"formal": ["{person} is here."]}}, "template kind 'formal'"),
    ({"axes": {"place": {"groups": {"a": {"territories": ["XX"]}, "b": {"territories": ["DE"]}}}}}, "CLDR territory"),
    ({"axes": {"gender": {"reference": "men"}}}, "reference group 'men'"),
    ({"axs": {}}, "unknown key 'axs'"),
])
def test_bad_lexicon_files_raise_one_line_audit_errors(tmp_path, data, message):
    with pytest.raises(AuditError) as err:
        load_lexicon(write(tmp_path, data))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_or_malformed_file_is_a_user_error(tmp_path):
    with pytest.raises(AuditError, match="not found"):
        load_lexicon(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("axes: [unclosed", encoding="utf-8")
    with pytest.raises(AuditError, match="not valid YAML"):
        load_lexicon(bad)
    with pytest.raises(AuditError, match="did you mean 'gender'"):
        load_lexicon(axes=["gendr"])
