"""The language registry: one row per language, joined at run time from installed packages.

Sources (read when first asked for, kept in memory, never copied into this repository):

- ``gflanguages`` (Google Fonts language data, Apache-2.0): the sample texts derived from the Universal
  Declaration of Human Rights, speaker populations, scripts and exemplar characters;
- ``babel`` (Unicode CLDR, Unicode licence): names of languages and territories translated into about 300
  locales, a parallel set keyed by code. Only the entries a locale states itself are used: the entries it
  inherits from a parent or from root are not its own text (the locale's data file is read as stored, and
  entries equal to the parent's are dropped);
- ``wordfreq`` (Speer 2022, Apache-2.0 code, CC BY-SA 4.0 data): frequency word lists for 42 languages.

Resource tiers (in the spirit of Joshi et al. 2020, "The State and Fate of Linguistic Diversity", whose
classes rank languages by available data; their per-language classes are not packaged here, so this
registry uses observable proxies):

- ``high``: wordfreq has a *large* list (corpora big enough for a 5-source list);
- ``medium``: wordfreq has a *small* list only;
- ``low``: no wordfreq list, but a CLDR locale with its own translated names, or at least a million speakers;
- ``very low``: none of these (a living language);
- ``historical``: marked historical by gflanguages (no living speakers).
"""
from __future__ import annotations

import functools
import math
import pickle
import unicodedata
from dataclasses import dataclass, field

from audit.errors import AuditError, did_you_mean

TIERS = ("high", "medium", "low", "very low", "historical")
TIER_RULE = (
    "high: wordfreq has a large word list; medium: wordfreq has a small list only; low: no wordfreq list but a CLDR "
    "locale with its own translated names or at least 1 million speakers; very low: none of these; historical: marked "
    "historical by gflanguages"
)
SPEAKERS_NOTE = (
    "Speaker counts are gflanguages' populations, which include second-language speakers: each ISO language is counted "
    "once, but a sum over languages counts a multilingual person once per language; the few languages that only CLDR "
    "knows (Malay among them) have no population there and count as 0"
)
ENGLISH = "en_Latn"
SAMPLE_FIELDS = ("styles", "tester", "specimen_48", "specimen_36", "specimen_32", "specimen_21", "specimen_16")
"""gflanguages sample-text fields holding running text (the masthead and poster fields are single words)."""


@dataclass(frozen=True)
class Language:
    """One language in one script, with the texts the packages hold for it."""

    code: str
    """gflanguages id, ``language_Script`` (e.g. ``yo_Latn``)."""
    language: str
    name: str
    script: str
    speakers: int
    historical: bool
    tier: str
    sample: str = field(repr=False)
    """UDHR-derived sample text (distinct lines of the gflanguages sample fields), "" when none."""
    exemplars: tuple[str, ...] = field(repr=False)
    """Base exemplar characters (graphemes) of the script as the language uses it."""
    cldr_locale: str | None
    wordfreq: str | None
    """wordfreq language code when wordfreq has a list for this language."""

    @property
    def has_text(self) -> bool:
        return bool(self.sample) or self.cldr_locale is not None


# ----------------------------------------------------------------------------------------------
# CLDR (babel): each locale's own names, without what it inherits
# ----------------------------------------------------------------------------------------------
def _read_locale_file(locale: str) -> dict:
    """The locale's data file as stored (babel's ``load(merge_inherited=False)`` shares one cache with merged
    loads, so reading through it could return inherited entries or hand other users unmerged data)."""
    from babel import localedata

    with open(localedata.resolve_locale_filename(locale), "rb") as fh:
        return pickle.load(fh)


def cldr_parent(locale: str) -> str:
    """The locale CLDR inherits from (babel's rule: parent exceptions, non-likely scripts to root, else truncate)."""
    from babel.core import get_global, parse_locale

    if locale == "root":
        raise ValueError("root has no parent")
    exceptions = get_global("parent_exceptions")
    if locale in exceptions:
        return exceptions[locale]
    lang, territory, script, variant, *rest = parse_locale(locale)
    if lang and script and not territory and not variant and not rest:
        likely = parse_locale(get_global("likely_subtags").get(lang, lang))
        if script != likely[2]:
            return "root"
    parts = locale.split("_")
    return "root" if len(parts) == 1 else "_".join(parts[:-1])


@functools.cache
def _inherited_names(locale: str) -> dict[str, str]:
    """Every name a locale shows, own and inherited (keys ``lang:xx`` and ``terr:YY``)."""
    if locale == "root":
        return _own_file_names("root")
    return {**_inherited_names(cldr_parent(locale)), **_own_file_names(locale)}


@functools.cache
def _own_file_names(locale: str) -> dict[str, str]:
    data = _read_locale_file(locale)
    names = {f"lang:{k}": v for k, v in data.get("languages", {}).items()}
    names.update({f"terr:{k}": v for k, v in data.get("territories", {}).items()})
    return {k: v for k, v in names.items() if isinstance(v, str) and v.strip()}


@functools.cache
def cldr_own_names(locale: str) -> dict[str, str]:
    """The names a locale states itself: its file's entries minus those equal to what its parent shows."""
    own = _own_file_names(locale)
    if locale == "root":
        return dict(own)
    parent = _inherited_names(cldr_parent(locale))
    return {k: v for k, v in own.items() if parent.get(k) != v}


def _cldr_locales() -> list[str]:
    """Language-level locales (``xx`` or ``xx_Script``): one per language and script, no regional variants."""
    from babel import localedata

    out = []
    for loc in localedata.locale_identifiers():
        parts = loc.split("_")
        if len(parts) == 1 or (len(parts) == 2 and len(parts[1]) == 4 and parts[1][0].isupper()):
            out.append(loc)
    return sorted(out)


def _locale_code(locale: str) -> str:
    """``language_Script`` of a CLDR locale (the script from CLDR's likely subtags when not written)."""
    from babel.core import get_global, parse_locale

    lang, _, script, *_ = parse_locale(locale)
    if not script:
        script = parse_locale(get_global("likely_subtags").get(lang, f"{lang}_Zyyy"))[2] or "Zyyy"
    return f"{lang}_{script}"


def parallel_names(lang: Language, reference: Language | None = None) -> dict[str, tuple[str, str]]:
    """key → (text in ``lang``, text in the reference, English by default), over keys both state themselves."""
    ref = reference or registry()[ENGLISH]
    if lang.cldr_locale is None or ref.cldr_locale is None:
        return {}
    mine, theirs = cldr_own_names(lang.cldr_locale), cldr_own_names(ref.cldr_locale)
    return {k: (mine[k], theirs[k]) for k in sorted(mine.keys() & theirs.keys())}


# ----------------------------------------------------------------------------------------------
# gflanguages and wordfreq
# ----------------------------------------------------------------------------------------------
@functools.cache
def _gflanguages() -> dict:
    """gflanguages parses ~1,700 text protos on every call (about a second): parse once."""
    import gflanguages

    return dict(gflanguages.LoadLanguages())


def _sample_text(proto) -> str:
    """Distinct lines of the running-text sample fields; a line contained in a longer one is dropped."""
    if not proto.HasField("sample_text"):
        return ""
    lines: list[str] = []
    for name in SAMPLE_FIELDS:
        for line in getattr(proto.sample_text, name).split("\n"):
            line = line.strip()
            if line and line not in lines:
                lines.append(line)
    return "\n".join(x for x in lines if not any(x != y and x in y for y in lines))


def _exemplars(proto) -> tuple[str, ...]:
    if not proto.HasField("exemplar_chars"):
        return ()
    items = (g.strip("{}") for g in proto.exemplar_chars.base.split())
    return tuple(dict.fromkeys(unicodedata.normalize("NFC", g) for g in items if g.strip("{}")))


@functools.cache
def _wordfreq_codes() -> dict[str, tuple[str, str]]:
    """registry code → (wordfreq code, largest list name)."""
    import wordfreq

    small, large = set(wordfreq.available_languages("small")), set(wordfreq.available_languages("large"))
    return {_locale_code(c): (c, "large" if c in large else "small") for c in sorted(small)}


@functools.cache
def frequent_words(code: str, n: int) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The ``n`` most frequent words of a wordfreq language and their frequencies (empty when none)."""
    import wordfreq

    entry = _wordfreq_codes().get(code)
    if entry is None or n <= 0:
        return (), ()
    words: list[str] = []
    freqs: list[float] = []
    for centibels, bucket in enumerate(wordfreq.get_frequency_list(entry[0], "small")):
        for w in bucket:
            if any(unicodedata.category(c)[0] in "LM" for c in w):
                words.append(w)
                freqs.append(10.0 ** (-centibels / 100.0))
                if len(words) == n:
                    return tuple(words), tuple(freqs)
    return tuple(words), tuple(freqs)


def _tier(historical: bool, speakers: int, wordfreq_list: str | None, has_cldr: bool) -> str:
    if historical:
        return "historical"
    if wordfreq_list == "large":
        return "high"
    if wordfreq_list == "small":
        return "medium"
    if has_cldr or speakers >= 1_000_000:
        return "low"
    return "very low"


@functools.cache
def registry() -> dict[str, Language]:
    """Every language with text in the installed packages: a UDHR sample, or CLDR names of its own."""
    from babel import localedata

    gf = _gflanguages()
    english_cldr = localedata.load("en")  # merged English names, for languages only CLDR knows
    locales: dict[str, str] = {}
    for loc in _cldr_locales():
        code = _locale_code(loc)  # "sr" and "sr_Cyrl" are one language: keep the locale with more names of its own
        if code not in locales or len(cldr_own_names(loc)) > len(cldr_own_names(locales[code])):
            locales[code] = loc
    wf = _wordfreq_codes()
    out: dict[str, Language] = {}
    for code in sorted(set(gf) | set(locales)):
        proto = gf.get(code)
        sample = _sample_text(proto) if proto is not None else ""
        own = locales.get(code)
        if own is not None and not cldr_own_names(own):
            own = None
        if not sample and own is None:
            continue
        lang, script = code.split("_", 1)
        speakers = int(proto.population) if proto is not None else 0
        historical = bool(proto.historical) if proto is not None else False
        name = (proto.preferred_name or proto.name) if proto is not None else english_cldr["languages"].get(lang, code)
        wf_entry = wf.get(code)
        out[code] = Language(
            code=code, language=lang, name=name, script=script, speakers=speakers, historical=historical,
            tier=_tier(historical, speakers, wf_entry[1] if wf_entry else None, own is not None),
            sample=sample, exemplars=_exemplars(proto) if proto is not None else (), cldr_locale=own,
            wordfreq=wf_entry[0] if wf_entry else None,
        )
    return out


def script_name(script: str) -> str:
    """The English name of an ISO 15924 script code (the code itself when unknown)."""
    return _script_names().get(script, script)


@functools.cache
def _script_names() -> dict[str, str]:
    import gflanguages

    return {k: v.name for k, v in gflanguages.LoadScripts().items()}


# ----------------------------------------------------------------------------------------------
# resolving user input
# ----------------------------------------------------------------------------------------------
def resolve(codes: list[str] | tuple[str, ...]) -> list[Language]:
    """Registry rows for user-given codes: ``yo_Latn``, ``yo`` (its most-spoken script) or a CLDR locale.

    An unknown code is an AuditError with close matches; a language the packages know but hold no text
    for is an AuditError saying so.
    """
    reg = registry()
    by_lang: dict[str, list[Language]] = {}
    for lang in reg.values():
        by_lang.setdefault(lang.language, []).append(lang)
    by_locale = {lang.cldr_locale: lang for lang in reg.values() if lang.cldr_locale}
    out: list[Language] = []
    for raw in codes:
        code = str(raw).strip().replace("-", "_")
        if code in reg:
            found = reg[code]
        elif code in by_locale:
            found = by_locale[code]
        elif code in by_lang:
            found = max(by_lang[code], key=lambda x: (x.speakers, bool(x.sample)))
        else:
            if _known_without_text(code):
                raise AuditError(
                    f"language {raw!r} has no text in the installed packages (no gflanguages sample text and no CLDR names "
                    f"of its own); choose another language"
                )
            names = {lang.name.lower(): lang.code for lang in reg.values()}
            hint = did_you_mean(code, list(reg) + sorted(by_lang)) or (
                f" (did you mean {names[code.lower()]!r}?)" if code.lower() in names else did_you_mean(code.lower(), names)
            )
            raise AuditError(f"unknown language code {raw!r}{hint}; use a code such as 'yo', 'yo_Latn' or 'sr_Latn' "
                             f"(language, or language_Script)")
        if found not in out:
            out.append(found)
    return out


def _known_without_text(code: str) -> bool:
    gf = _gflanguages()
    return code in gf or any(k.split("_", 1)[0] == code for k in gf)


def millions(n: float) -> str:
    """A speaker count in words: '1.2 billion', '35 million', '8,000'."""
    if n >= 1e9:
        return f"{n / 1e9:.1f} billion"
    if n >= 1e6:
        return f"{n / 1e6:,.0f} million" if n >= 1e7 else f"{n / 1e6:.1f} million"
    return f"{int(n):,}" if math.isfinite(n) else "unknown"


def clear_cache() -> None:
    """Forget the in-memory tables (for tests that measure cold start)."""
    for fn in (registry, _gflanguages, _own_file_names, _inherited_names, cldr_own_names, _wordfreq_codes, frequent_words, _script_names):
        fn.cache_clear()

