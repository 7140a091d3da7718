#!/usr/bin/env python3
"""Writes crates/metrics/tests/fixtures/porter_nltk.tsv: `word TAB stem` lines from NLTK's PorterStemmer.

The words are chosen so that every line and branch of nltk/stem/porter.py runs: hand-picked edge
cases, the irregular-forms pool, then WordNet lemmas picked (a) per distinct set of porter.py line
transitions they execute (found with sys.settrace) and (b) per distinct final 1-4 letters.
The choice is deterministic (ordered by an MD5 of the word), so reruns give the same file.

  NLTK_DATA=.cache/pyref/nltk_data .cache/pyref/venv/bin/python scripts/gen_porter_fixture.py
"""
import hashlib
import os
import sys

import nltk
from nltk.stem import porter
from nltk.stem.porter import PorterStemmer

assert nltk.__version__ == "3.10.4", nltk.__version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates/metrics/tests/fixtures/porter_nltk.tsv")
WORDNET = "/usr/share/wordnet"

EDGE = [
    "", "a", "I", "s", "y", "be", "BY", "ie", "ab", "ox", "yy", "yyy", "yyyy", "yyyyy", "yyyyyy",
    "ies", "IES", "sses", "ss", "sss", "eed", "ied", "ing", "ed", "xed", "aed", "yed", "ying", "bed",
    "dies", "DIES", "lies", "ties", "flies", "died", "tied", "spied", "cried", "agreed", "feed", "bleed",
    "sky", "Sky", "SKIES", "Dying", "LYING", "News", "Innings", "Howe", "PROCEED", "Exceed", "succeeds",
    "İstanbul", "İ", "İs", "İİİ", "KELVIN", "\u212aELVIN", "\u212aies", "s\u212aies", "µm", "µM", "µmol",
    "β-blockers", "β-blocker", "ΟΔΟΣ", "Σίσυφος", "±5", "x-ray", "x-rays", "X-RAYS", "12mm", "12",
    "3.5", "1990s", "100%", "--", "-", "...", "lungs.", "(left)", "heart,", "effusion;", "ribs)",
    "pneumothorax.", "cardiomegaly,", "opacities.", "opacity", "'s", "n't", "don't", "e.g.", "i.e.",
    "a*ded", "x*ding", "ya*ding", "o*ded", "*d", "a*d", "ab*ded", "hopping", "hopped", "tanned",
    "falling", "hissing", "fizzed", "failing", "filing", "conflated", "troubled", "sized", "fizzing",
    "caresses", "ponies", "caress", "cats", "plastered", "bled", "motoring", "sing", "happy", "enjoy",
    "spy", "fly", "try", "toy", "syzygy", "relational", "conditional", "rational", "valenci",
    "hesitanci", "digitizer", "conformabli", "radicalli", "differentli", "vileli", "analogousli",
    "vietnamization", "predication", "operator", "feudalism", "decisiveness", "hopefulness",
    "callousness", "formaliti", "sensitiviti", "sensibiliti", "triplicate", "formative", "formalize",
    "electriciti", "electrical", "hopeful", "goodness", "revival", "allowance", "inference",
    "airliner", "gyroscopic", "adjustable", "defensible", "irritant", "replacement", "adjustment",
    "dependent", "adoption", "homologou", "communism", "activate", "angulariti", "homologous",
    "effective", "bowdlerize", "probate", "rate", "cease", "controll", "roll", "geology", "theology",
    "logi", "alogi", "blogi", "archaeology", "analli", "ealli", "fulli", "hopefulli", "dalli",
    "alli", "tionally", "ationally", "ational", "biliti", "eliti", "ement", "cement", "ion", "sion",
    "tion", "ation", "nation", "ll", "all", "ball", "fall", "tall", "controllable", "abysses",
    "Hello", "WORLD", "MiXeD", "ÉCOLE", "école", "naïve", "café", "Straße", "ﬁle", "ǅemal",
    "😀", "😀😀😀", "ab😀", "😀ies", "😀ing", "a😀ing", "a\u0301ing", "\u2082\u2082ing", "a\u2082\u2082ing",
    "aayying", "yying", "ayying", "byy", "bayy", "enjoyed", "yelled", "yeses", "eyes",
]


def wordnet_lemmas():
    words = set()
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(WORDNET, "index." + pos), encoding="utf-8") as f:
            for line in f:
                if line.startswith(" "):
                    continue
                lemma = line.split(" ", 1)[0]
                if "_" not in lemma:
                    words.add(lemma)
    return words


def order(word):
    return hashlib.md5(word.encode("utf-8")).hexdigest()


def arcs_of(stemmer, word):
    """The set of (line, next line) transitions that stemming `word` runs in porter.py."""
    arcs = set()
    last = [None]
    target = porter.__file__

    def local(frame, event, arg):
        if event == "line":
            arcs.add((last[0], frame.f_lineno))
            last[0] = frame.f_lineno
        elif event == "return":
            arcs.add((last[0], -frame.f_code.co_firstlineno))
            last[0] = None
        return local

    def tracer(frame, event, arg):
        if frame.f_code.co_filename == target:
            last[0] = -frame.f_code.co_firstlineno
            return local
        return None

    sys.settrace(tracer)
    try:
        stemmer.stem(word)
    finally:
        sys.settrace(None)
    return frozenset(arcs)


def main():
    stemmer = PorterStemmer()
    lemmas = sorted(wordnet_lemmas(), key=order)
    chosen = dict.fromkeys(EDGE)
    for form in stemmer.pool:
        for variant in (form, form.upper(), form.capitalize()):
            chosen.setdefault(variant)

    # (a) Up to two words per distinct execution path through porter.py.
    per_path = {}
    all_arcs = set()
    for word in lemmas:
        arcs = arcs_of(stemmer, word)
        all_arcs |= arcs
        picked = per_path.setdefault(arcs, [])
        if len(picked) < 2:
            picked.append(word)
    for picked in per_path.values():
        for word in picked:
            chosen.setdefault(word)

    # (b) Words per distinct ending: more for short endings, which every rule keys on.
    budget = {1: 8, 2: 3, 3: 1, 4: 0}
    taken = {}
    for word in lemmas:
        for n, limit in budget.items():
            if len(word) > n:
                key = (n, word[-n:])
                if taken.get(key, 0) < limit:
                    taken[key] = taken.get(key, 0) + 1
                    chosen.setdefault(word)
    # One word for each 4-letter ending that some rule suffix is a suffix of.
    suffixes = [
        "ational", "tional", "enci", "anci", "izer", "bli", "alli", "entli", "eli", "ousli",
        "ization", "ation", "ator", "alism", "iveness", "fulness", "ousness", "aliti", "iviti",
        "biliti", "fulli", "logi", "icate", "ative", "alize", "iciti", "ical", "ful", "ness",
        "ance", "ence", "able", "ible", "ement", "ment", "sses", "eed", "ied",
    ]
    seen4 = set()
    for word in lemmas:
        tail = word[-4:]
        if tail not in seen4 and any(s.endswith(tail) or tail.endswith(s) for s in suffixes):
            seen4.add(tail)
            chosen.setdefault(word)
    # Case variants of a few lemmas: lowercasing happens before every rule.
    for word in lemmas[:150]:
        chosen.setdefault(word.upper())
        chosen.setdefault(word.capitalize())

    # Check that the chosen words reach every transition the whole vocabulary reaches.
    reached = set()
    for word in chosen:
        reached |= arcs_of(stemmer, word)
    missing = all_arcs - reached
    assert not missing, f"fixture misses porter.py transitions: {sorted(missing, key=str)[:10]}"

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        for word in chosen:
            assert "\t" not in word and "\n" not in word
            f.write(f"{word}\t{stemmer.stem(word)}\n")
    print(f"{OUT}: {len(chosen)} words, {len(per_path)} distinct paths, {len(all_arcs)} transitions",
          file=sys.stderr)


if __name__ == "__main__":
    main()
