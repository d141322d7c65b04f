"""Pluggable noun extraction for the reward's type term (``title_score``).

Upstream tags titles with spaCy ``en_core_web_sm`` and keeps the lower-cased text of NOUN/PROPN tokens
(a *list*, duplicates kept: the title score divides by its length). Two extractors:

* :class:`HeuristicNouns` (default, no download, deterministic everywhere): word tokens minus stop
  words, numbers, colour/size words and common adjective forms. It keeps some words spaCy tags as
  adjectives or verbs, so its title scores differ from spaCy's by a few hundredths on typical titles.
* :class:`SpacyNouns`: the upstream method, used when spaCy and a model are installed
  (``noun_extractor="spacy"``). spaCy versions differ too: upstream's unit-test expectations
  0.333 / 0.3 / 0.15 (spaCy 3.3) come out as 0.400 / 0.312 / 0.167 with spaCy 3.8.

Effect on rewards: ``r_type`` only changes at the thresholds 0.1 and 0.2 (and only when neither the query
nor two category segments match), so the extractor rarely changes a score; buying the target itself
always gives ``r_type = 1``. Scores are comparable only between runs that used the same extractor, which
is why the env records it in its data fingerprint.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Protocol

from spear_envs.webshop.reward import COLOR_SET


class NounExtractor(Protocol):
    name: str

    def nouns(self, text: str) -> list[str]:
        """Lower-cased nouns of ``text`` in order, duplicates kept."""


_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_STOP = frozenset(
    "a an and are as at be but by for from if in into is it its no not of on or such that the their then there "
    "these they this to was will with without your you our we us my me i he she his her them those than so too very "
    "can all any each every more most other some only own same just also up down out over under again new per "
    "plus one two three four five six pack set piece pcs count ounce oz inch inches ft feet lb lbs ml".split()
)
_ADJECTIVES = frozenset(
    "small large big mini extra x-large xx-large medium little long short tall wide narrow thin thick heavy light "
    "high low soft hard hot cold warm cool dry wet fresh natural organic premium classic modern vintage rustic "
    "portable durable adjustable comfortable breathable waterproof lightweight reusable washable cute beautiful "
    "best great good perfect easy quick fast slow full free non anti multi super ultra casual formal elegant "
    "men's women's mens womens kids unisex".split()
)
_ADJ_SUFFIX = ("able", "ible", "ful", "less", "ous", "ive", "ly", "ish")


class HeuristicNouns:
    """A rule-based noun extractor (see the module docstring)."""

    name = "heuristic"

    def nouns(self, text: str) -> list[str]:
        out = []
        for word in _WORD.findall(text):
            w = word.lower().strip("'-")
            if len(w) < 2 or w in _STOP or w in _ADJECTIVES or w in COLOR_SET or w.endswith(_ADJ_SUFFIX):
                continue
            out.append(w)
        return out


class SpacyNouns:
    """Upstream's extractor: spaCy NOUN/PROPN tokens (``model`` must be installed)."""

    def __init__(self, model: str = "en_core_web_sm"):
        try:
            import spacy

            self._nlp = spacy.load(model, disable=["parser", "ner", "lemmatizer"])
        except (ImportError, OSError) as exc:
            raise RuntimeError(
                f"noun_extractor='spacy' needs spaCy and the model {model!r} installed ({exc}); "
                "use noun_extractor='heuristic' (the default) instead"
            ) from None
        self.name = f"spacy:{model}"

    def nouns(self, text: str) -> list[str]:
        return [t.text.lower() for t in self._nlp(text) if t.pos_ in ("NOUN", "PROPN")]


@lru_cache(maxsize=None)
def get_noun_extractor(name: str = "heuristic") -> NounExtractor:
    """``"heuristic"``, ``"spacy"`` (``en_core_web_sm``), ``"spacy:<model>"``, or ``"auto"`` (spaCy if usable)."""
    if name == "heuristic":
        return HeuristicNouns()
    if name == "auto":
        try:
            return SpacyNouns()
        except RuntimeError:
            return HeuristicNouns()
    if name == "spacy" or name.startswith("spacy:"):
        return SpacyNouns(name.split(":", 1)[1] if ":" in name else "en_core_web_sm")
    raise ValueError(f"noun_extractor must be 'heuristic', 'spacy', 'spacy:<model>' or 'auto', got {name!r}")
