#!/usr/bin/env python3
"""Builds crates/metrics/data/wordnet-3.0.bin, the compact WordNet table behind METEOR's synonym stage.

Usage: gen_wordnet_table.py [WORDNET_DIR [OUT_BIN]]
  WORDNET_DIR defaults to /usr/share/wordnet (Debian wordnet-base, WordNet 3.0); OUT_BIN to
  crates/metrics/data/wordnet-3.0.bin. WordNet's licence is written next to OUT_BIN as WORDNET-LICENSE.

Plain Python 3, no NLTK. Keeps exactly what NLTK 3.10.4's `wordnet.synsets(word)` + `lemma.name()`
need for METEOR's `{l.name() for s in synsets(h) for l in s.lemmas() if '_' not in l.name()}`:
  - every index lemma, with the POS it is indexed under (for 'a', index.adj lists satellites too);
  - per (lemma, POS) the union of the names of all its synsets, restricted to names without '_'
    (METEOR drops those) and without uppercase letters: METEOR only compares them with
    str.lower()ed tokens, so they can never match. Every kept name is itself an index lemma
    (asserted below), so it has an id;
  - the exception lists (inflected form -> base forms; a later line for the same form replaces an
    earlier one, as NLTK's dict does), keeping the bases indexed under that POS (morphy's
    filter_forms drops the others).

Format (little-endian; strings ASCII, sorted bytewise; a string's id is its sorted position):
  b"MHWN\\x01\\0\\0\\0", u32 string count, u32 block count, u32 data length,
  u32[block count] block start offsets into data, data.
  Strings are front-coded in blocks of 16 (the first of a block has shared length 0). Entry:
  varint shared-prefix length, varint suffix length, suffix, flags byte (bit p: indexed under
  POS p; bit 4+p: exception form for POS p; POS order n, v, a, r), then for each indexed POS a
  varint count and delta-coded varint name ids (ascending, distinct), then for each exception POS
  the same for its bases. The output is deterministic: same input, same bytes.
"""
import os
import re
import struct
import sys

POS = ["n", "v", "a", "r"]
FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
BLOCK = 16
MAGIC = b"MHWN\x01\x00\x00\x00"
# NLTK's syntactic-marker split: "galore(ip)" -> "galore".
MARKER = re.compile(r"(.*?)(\([^()]*\))?$")
LICENSE_PREAMBLE = (
    "The WordNet table in this folder (wordnet-3.0.bin) is derived from WordNet 3.0 (Debian package\n"
    "wordnet-base) by scripts/gen_wordnet_table.py. WordNet's licence:\n\n"
)


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_entries(path):
    """(byte offset, line) of each non-licence line; NLTK seeks data files by byte offset."""
    offset = 0
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("ascii")  # WordNet 3.0 is ASCII; anything else would need a rethink
            if not line.startswith(" "):
                yield offset, line
            offset += len(raw)


def licence_text(src):
    """The Princeton licence as it heads each data file: '  N text  ' lines, verbatim text."""
    lines = []
    with open(os.path.join(src, "data.noun"), encoding="ascii") as f:
        for line in f:
            if not line.startswith("  "):
                break
            match = re.match(r"  (\d+) (.*?)  $", line.rstrip("\n"))
            assert match and int(match.group(1)) == len(lines) + 1, line
            lines.append(match.group(2))
    assert lines and "Princeton University" in lines[-1], lines
    return LICENSE_PREAMBLE + "\n".join(lines) + "\n"


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "crates/metrics/data/wordnet-3.0.bin")

    # Synset names per (POS, offset), as NLTK's Lemma.name(): syntactic marker stripped.
    names = {}
    for pos in POS:
        for offset, line in read_entries(os.path.join(src, "data." + FILES[pos])):
            columns, _gloss = line.strip().split("|")  # NLTK's unpacking: exactly one '|'
            fields = columns.split()
            assert int(fields[0]) == offset, (pos, offset, line[:40])
            count = int(fields[3], 16)
            names[(pos, offset)] = [MARKER.match(fields[4 + 2 * i]).group(1) for i in range(count)]

    index = {}  # lemma -> {pos: [offsets]}
    for pos in POS:
        for _, line in read_entries(os.path.join(src, "index." + FILES[pos])):
            fields = line.split()
            lemma, line_pos = fields[0], fields[1]
            n_synsets, n_pointers = int(fields[2]), int(fields[3])
            n_senses = int(fields[4 + n_pointers])
            offsets = [int(x) for x in fields[6 + n_pointers : 6 + n_pointers + n_synsets]]
            assert n_synsets > 0 and n_synsets == n_senses == len(offsets) and line_pos == pos, line
            # synsets() lowercases its query, so an uppercase lemma would be unreachable.
            assert lemma == lemma.lower(), lemma
            assert pos not in index.get(lemma, {}), (lemma, pos)
            assert all((pos, off) in names for off in offsets), line
            index.setdefault(lemma, {})[pos] = offsets

    exceptions = {pos: {} for pos in POS}
    for pos in POS:
        with open(os.path.join(src, FILES[pos] + ".exc"), encoding="ascii") as f:
            for line in f:
                terms = line.split()
                if terms:
                    exceptions[pos][terms[0]] = terms[1:]

    def usable(name):
        return "_" not in name and name == name.lower()

    strings = set(index)
    for pos in POS:
        strings.update(exceptions[pos])
    for words in names.values():
        for w in words:
            if usable(w):
                # Every usable name is itself an index lemma (checked, not assumed).
                assert w in index, w
    ordered = sorted(strings, key=lambda s: s.encode("ascii"))
    ids = {s: i for i, s in enumerate(ordered)}
    assert all(s and " " not in s for s in ordered)

    data = bytearray()
    blocks = []
    previous = b""
    for i, text in enumerate(ordered):
        raw = text.encode("ascii")
        shared = 0
        if i % BLOCK == 0:
            blocks.append(len(data))
        else:
            while shared < min(len(raw), len(previous)) and raw[shared] == previous[shared]:
                shared += 1
        data += varint(shared) + varint(len(raw) - shared) + raw[shared:]
        previous = raw
        flags = 0
        lists = []
        for bit, pos in enumerate(POS):
            if pos in index.get(text, {}):
                flags |= 1 << bit
                lists.append(sorted({ids[w] for off in index[text][pos] for w in names[(pos, off)] if usable(w)}))
        for bit, pos in enumerate(POS):
            if text in exceptions[pos]:
                flags |= 1 << (4 + bit)
                lists.append(sorted({ids[b] for b in exceptions[pos][text] if pos in index.get(b, {})}))
        data.append(flags)
        for values in lists:
            data += varint(len(values))
            last = 0
            for v in values:
                data += varint(v - last)
                last = v

    header = MAGIC + struct.pack("<III", len(ordered), len(blocks), len(data))
    table = header + b"".join(struct.pack("<I", b) for b in blocks) + bytes(data)
    with open(out_path, "wb") as f:
        f.write(table)
    with open(os.path.join(os.path.dirname(os.path.abspath(out_path)), "WORDNET-LICENSE"), "w", encoding="ascii") as f:
        f.write(licence_text(src))
    print(f"{out_path}: {len(ordered)} strings, {len(blocks)} blocks, {len(table)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
