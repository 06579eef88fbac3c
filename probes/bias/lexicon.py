"""Identity axes, groups, terms and templates: loading, checking and deterministic expansion.

The built-in data live in ``data/axes.yaml`` and ``data/templates.yaml`` (each with its provenance). A
user's YAML file in the same layout adds axes, groups (or terms to existing groups), templates and filler
words without any Python; ``replace_templates: true`` in it drops the built-in templates. Country names
come from CLDR through Babel and names from Faker at run time. A user's file, for example::

    axes:
      profession:                       # a new axis
        reference: doctors
        groups:
          doctors: [a doctor, a surgeon]
          cleaners: [a cleaner, a janitor]
      gender:                           # more terms for a built-in group
        groups:
          female: [my grandmother]
    templates:
      neutral: ["{person} bought {fruit} at the market."]
    fillers:
      fruit: {fruit: [apples, pears]}

is passed as ``lexicon_file`` to ``bias.counterfactual``. New terms also come as a table with columns axis,
group, term (a CSV/JSONL/Parquet file, a cached hub dataset, a ``datasets.Dataset`` or a DataFrame).
"""
from __future__ import annotations

import functools
import itertools
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audit.data_sources import describe, is_table, load_columns
from audit.errors import AuditError, did_you_mean

DATA = Path(__file__).with_name("data")
IDENTITY_SLOTS = ("person", "people", "subj", "obj", "poss")
DEFAULT_PRONOUNS = ("they", "them", "their")
TEMPLATE_KINDS = ("neutral", "emotion")
_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Term:
    """One identity term and its grammatical forms (person, people, subj, obj, poss)."""

    forms: dict[str, str]
    variant: str = ""
    """What a term shares with its counterparts in other groups (the noun of "a blind woman", the pattern of
    "a person from X"), so the most telling pairs can be like for like; "" for free-standing terms."""

    @property
    def label(self) -> str:
        return self.forms["person"]


@dataclass(frozen=True)
class Group:
    name: str
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Axis:
    name: str
    groups: tuple[Group, ...]
    reference: str | None = None

    @property
    def terms(self) -> list[tuple[str, Term]]:
        """(group name, term) for every term, in a fixed order."""
        return [(g.name, t) for g in self.groups for t in g.terms]


@dataclass(frozen=True)
class Template:
    text: str
    kind: str

    @property
    def slots(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_SLOT.findall(self.text)))


@dataclass(frozen=True)
class Frame:
    """A template with its filler slots bound: the part shared by both sides of a counterfactual pair."""

    template: Template
    fillers: tuple[tuple[str, str], ...] = ()
    filler_groups: tuple[tuple[str, str], ...] = ()

    def render(self, term: Term) -> str:
        values = {**term.forms, **dict(self.fillers)}
        text = _SLOT.sub(lambda m: values[m.group(1)], self.template.text)
        return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Lexicon:
    axes: dict[str, Axis]
    templates: tuple[Template, ...]
    fillers: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def frames(self, axis: Axis, kinds: tuple[str, ...] = TEMPLATE_KINDS) -> list[Frame]:
        """Every frame whose identity slots every term of ``axis`` can fill, in a fixed order."""
        out: list[Frame] = []
        for t in self.templates:
            if t.kind not in kinds:
                continue
            needs = [s for s in t.slots if s in IDENTITY_SLOTS]
            if not all(s in term.forms for _, term in axis.terms for s in needs):
                continue
            fill_slots = [s for s in t.slots if s not in IDENTITY_SLOTS]
            choices = [[(s, cat, w) for cat, words in self.fillers[s].items() for w in words] for s in fill_slots]
            for combo in itertools.product(*choices):
                out.append(Frame(t, tuple((s, w) for s, _, w in combo), tuple((s, cat) for s, cat, _ in combo)))
        return out


def sample_frames(frames: list[Frame], n_terms: int, max_cases: int | None, seed: int, key: str,
                  min_frames: int = 1) -> list[Frame]:
    """A seeded sample of frames so that frames × terms stays within ``max_cases`` (order kept), but never
    fewer than ``min_frames`` frames (an axis with many terms may then exceed the cap)."""
    if max_cases is None or len(frames) * n_terms <= max_cases:
        return frames
    k = min(len(frames), max(min_frames, max_cases // max(n_terms, 1)))
    if k == len(frames):
        return frames
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    keep = sorted(rng.choice(len(frames), size=k, replace=False).tolist())
    return [frames[i] for i in keep]


# ---------------------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------------------
def read_yaml(path: str | Path, what: str) -> dict[str, Any]:
    """A YAML mapping from ``path``; a missing or malformed file is a user error."""
    from audit.config import read_yaml as read_guarded  # size cap, no alias bombs or python tags, as for configs

    p = Path(path)
    if not p.is_file():
        raise AuditError(f"{what} {path} not found; pass the path of an existing YAML file")
    data = read_guarded(p, what)
    if not isinstance(data, dict):
        raise AuditError(f"{what} {path} must hold a mapping with keys such as 'axes' and 'templates'")
    return data


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


@functools.lru_cache(maxsize=1)
def _territories() -> dict[str, str]:
    """CLDR's English territory names, read once per process (each probe that loads the lexicon asks again)."""
    from babel import Locale

    return dict(Locale("en").territories)


def _country(code: str, axis: str) -> str:
    names = _territories()
    if code not in names:
        raise AuditError(f"axis {axis!r}: {code!r} is not a CLDR territory code{did_you_mean(code, names)}; use codes such as DE, NG, IN")
    return str(names[code])


def faker_names(locale: str, k: int, seed: int, axis: str) -> list[str]:
    return list(_faker_names(locale, k, seed, axis))


@functools.lru_cache(maxsize=256)
def _faker_names(locale: str, k: int, seed: int, axis: str) -> tuple[str, ...]:
    """Drawn once per process for each (locale, count, seed): a Faker instance costs about 0.1 s to set up."""
    from faker import Faker
    from faker.config import AVAILABLE_LOCALES

    if locale not in AVAILABLE_LOCALES:
        raise AuditError(f"axis {axis!r}: Faker has no locale {locale!r}{did_you_mean(locale, AVAILABLE_LOCALES)}")
    fake = Faker(locale)
    fake.seed_instance(seed)
    names: list[str] = []
    for _ in range(50 * k):
        name = f"{fake.first_name()} {fake.last_name()}"
        if name not in names:
            names.append(name)
        if len(names) == k:
            break
    return tuple(names)


def _group(axis_name: str, axis: dict[str, Any], name: str, spec: Any, seed: int) -> Group:
    if isinstance(spec, list):
        spec = {"terms": spec}
    if not isinstance(spec, dict):
        raise AuditError(f"axis {axis_name!r}, group {name!r}: give a list of terms or a mapping with 'terms'")
    unknown = set(spec) - {"terms", "descriptors", "territories", "faker_locale", "pronouns"}
    if unknown:
        key = sorted(unknown)[0]
        raise AuditError(f"axis {axis_name!r}, group {name!r}: unknown key {key!r}"
                         f"{did_you_mean(key, ['terms', 'descriptors', 'territories', 'faker_locale', 'pronouns'])}")
    pronouns = spec.get("pronouns") or DEFAULT_PRONOUNS
    if len(pronouns) != 3:
        raise AuditError(f"axis {axis_name!r}, group {name!r}: pronouns must be [subject, object, possessive], e.g. [she, her, her]")
    base = dict(zip(("subj", "obj", "poss"), (str(p) for p in pronouns)))
    forms: list[tuple[dict[str, str], str]] = []
    # terms: a list, or a mapping of what the terms share with their counterparts in the other groups (their
    # variant: "parent" for my mother / my father / my genderqueer parent) to a list, so telling pairs are minimal
    listed = [(variant, t) for variant, ts in terms_by_variant(spec.get("terms")).items() for t in ts]
    for variant, t in listed:
        if isinstance(t, dict):
            if "person" not in t:
                raise AuditError(f"axis {axis_name!r}, group {name!r}: a term mapping needs a 'person' form, got {t}")
            forms.append(({**base, **{str(k): str(v) for k, v in t.items()}}, variant))
        else:
            forms.append(({**base, "person": str(t)}, variant))
    for d in spec.get("descriptors") or []:
        for noun in axis.get("nouns") or ["person"]:
            forms.append(({**base, "person": f"{_article(str(d))} {d} {noun}", "people": f"{d} people"}, noun))
    for code in spec.get("territories") or []:
        country = _country(str(code), axis_name)
        for pattern in axis.get("patterns") or ["a person from {country}"]:
            forms.append(({**base, "person": pattern.format(country=country),
                           **({"people": axis["plural"].format(country=country)} if axis.get("plural") else {})}, pattern))
    if spec.get("faker_locale"):
        k = int(axis.get("names_per_group", 4))
        forms += [({**base, "person": n}, "") for n in faker_names(str(spec["faker_locale"]), k, seed, axis_name)]
    terms = tuple(Term(f, variant) for f, variant in forms if f["person"].strip())
    if not terms:
        raise AuditError(f"axis {axis_name!r}, group {name!r} has no terms (empty lexicon); add at least one term")
    return Group(str(name), terms)


def _merge_axes(base: dict[str, dict[str, Any]], extra: dict[str, Any]) -> None:
    for axis_name, spec in extra.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("groups", {}), dict):
            raise AuditError(f"axis {axis_name!r} must be a mapping with a 'groups' mapping of group name → terms")
        target = base.setdefault(axis_name, {"groups": {}})
        for key, value in spec.items():
            if key != "groups":
                target[key] = value
        for gname, gspec in (spec.get("groups") or {}).items():
            old = target["groups"].get(gname)
            if old is None:
                target["groups"][gname] = gspec
                continue
            old = {"terms": old} if isinstance(old, list) else dict(old)
            new = {"terms": gspec} if isinstance(gspec, list) else dict(gspec or {})
            for k, v in new.items():
                if k == "terms" and (isinstance(v, dict) or isinstance(old.get(k), dict)):
                    merged = terms_by_variant(old.get(k))
                    for variant, ts in terms_by_variant(v).items():
                        merged[variant] = merged.get(variant, []) + ts
                    old[k] = merged
                    continue
                old[k] = (list(old.get(k) or []) + list(v)) if isinstance(v, list) and k != "pronouns" else v
            target["groups"][gname] = old


def terms_by_variant(terms: Any) -> dict[str, list[Any]]:
    """Terms in their mapping form, variant -> list ("" for a plain list)."""
    if isinstance(terms, dict):
        return {str(k): list(v or []) for k, v in terms.items()}
    return {"": list(terms or [])}


def _check_templates(templates: list[Template], fillers: dict[str, Any]) -> None:
    known = set(IDENTITY_SLOTS) | set(fillers)
    for t in templates:
        if not t.text.strip():
            raise AuditError("a template is empty; remove it or write a sentence with a {person} slot")
        for s in t.slots:
            if s not in known:
                raise AuditError(f"template {t.text!r} has an unknown slot {{{s}}}{did_you_mean(s, known)}; "
                                 f"known slots: {', '.join(sorted(known))}")
        if not set(t.slots) & {"person", "people"}:
            raise AuditError(f"template {t.text!r} has no identity slot; add {{person}} or {{people}}")
        if t.text.count("{") != len(_SLOT.findall(t.text)):
            raise AuditError(f"template {t.text!r} has a malformed slot; write slots as {{name}}")


def lexicon_table(source: Any) -> dict[str, Any]:
    """A lexicon as a table (file, cached hub dataset, Dataset or DataFrame) with columns axis, group, term: the
    same as a YAML file listing those terms under ``axes: {axis: {groups: {group: [term, ...]}}}``."""
    cols = load_columns(source, ("axis", "group", "term"), what="lexicon table")
    axes: dict[str, Any] = {}
    for i, (axis, group, term) in enumerate(zip(cols["axis"], cols["group"], cols["term"])):
        if not all(isinstance(v, str) and v.strip() for v in (axis, group, term)):
            raise AuditError(f"lexicon table {describe(source)}, row {i + 1}: axis, group and term must all be non-empty text")
        axes.setdefault(axis.strip(), {"groups": {}})["groups"].setdefault(group.strip(), []).append(term.strip())
    return {"axes": axes}


def load_lexicon(extra_file: Any = None, *, seed: int = 0, axes: list[str] | None = None) -> Lexicon:
    """The built-in axes and templates, plus those of ``extra_file``, checked and expanded."""
    raw_axes = dict(read_yaml(DATA / "axes.yaml", "lexicon")["axes"])
    tdata = read_yaml(DATA / "templates.yaml", "template file")
    raw_templates = {k: list(v) for k, v in tdata["templates"].items()}
    raw_fillers: dict[str, Any] = dict(tdata.get("fillers") or {})
    if extra_file is not None:
        extra = lexicon_table(extra_file) if is_table(extra_file) else read_yaml(extra_file, "lexicon file")
        unknown = set(extra) - {"axes", "templates", "fillers", "provenance", "replace_templates"}
        if unknown:
            key = sorted(unknown)[0]
            raise AuditError(f"lexicon file {extra_file}: unknown key {key!r}{did_you_mean(key, ['axes', 'templates', 'fillers'])}; "
                             "use axes, templates, fillers")
        _merge_axes(raw_axes, extra.get("axes") or {})
        if extra.get("replace_templates"):
            raw_templates = {}
        for kind, items in (extra.get("templates") or {}).items():
            if kind not in TEMPLATE_KINDS:
                raise AuditError(f"lexicon file {extra_file}: template kind {kind!r} is unknown{did_you_mean(kind, TEMPLATE_KINDS)}; "
                                 f"use {' or '.join(TEMPLATE_KINDS)}")
            raw_templates.setdefault(kind, []).extend(items or [])
        for slot, cats in (extra.get("fillers") or {}).items():
            if not isinstance(cats, dict) or not all(isinstance(v, list) and v for v in cats.values()):
                raise AuditError(f"lexicon file {extra_file}: filler {slot!r} must map categories to non-empty word lists")
            if slot in IDENTITY_SLOTS:
                raise AuditError(f"lexicon file {extra_file}: {slot!r} is an identity slot and cannot be a filler; rename it")
            raw_fillers[slot] = {**raw_fillers.get(slot, {}), **cats}
    fillers = {s: {c: tuple(str(w) for w in ws) for c, ws in cats.items()} for s, cats in raw_fillers.items()}
    templates = [Template(str(text), kind) for kind, items in raw_templates.items() for text in items]
    _check_templates(templates, fillers)
    if axes is not None:
        for a in axes:
            if a not in raw_axes:
                from audit.errors import unknown_name

                raise unknown_name("bias axis", a, raw_axes)
        raw_axes = {a: raw_axes[a] for a in axes}
    built: dict[str, Axis] = {}
    for name, spec in raw_axes.items():
        groups = spec.get("groups") or {}
        if len(groups) < 2:
            raise AuditError(f"axis {name!r} has {len(groups)} group(s); a counterfactual comparison needs at least two")
        gs = tuple(_group(name, spec, g, gspec, seed) for g, gspec in groups.items())
        ref = spec.get("reference")
        if ref is not None and ref not in groups:
            raise AuditError(f"axis {name!r}: reference group {ref!r} is not one of its groups{did_you_mean(str(ref), groups)}")
        built[name] = Axis(name, gs, ref)
    return Lexicon(built, tuple(templates), fillers)
