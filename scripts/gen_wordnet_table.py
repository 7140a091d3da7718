#!/usr/bin/env python3
"""Builds crates/core/data/wordnet-3.0.bin, the compact WordNet table behind METEOR's synonym stage.

Reads Debian's wordnet-base (WordNet 3.0) from /usr/share/wordnet (or the folder given as the
first argument) without NLTK, and keeps exactly what NLTK's `wordnet.synsets(word)` +
`lemma.name()` need for METEOR:
  - every index lemma, with the POS it is indexed under;
  - per (lemma, POS) the union of the names of all its synsets, restricted to names without '_'
    (METEOR drops those) and without uppercase letters (they can never equal a str.lower()ed
    token), as ids of strings of this table;
  - the exception lists (inflected form -> base forms), keeping the bases indexed under the POS
    (morphy's filter_forms drops the others).

Format (little-endian; all strings ASCII, sorted bytewise, ids are sorted positions):
  b"MHWN\\x01\\0\\0\\0", u32 string count, u32 block count, u32 data length,
  u32[block count] block start offsets into data, data.
  Strings are front-coded in blocks of 16 (the first of a block is stored whole). Each entry:
  varint shared-prefix length, varint suffix length, suffix, flags byte (bit p: indexed under
  POS p; bit 4+p: exception form for POS p; POS order n, v, a, r), then for each indexed POS a
  varint count and delta-coded varint name ids, then for each exception POS the same for bases.
The output is deterministic.
"""
import os
import re
import struct
import sys

POS = ["n", "v", "a", "r"]
FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
BLOCK = 16
MARKER = re.compile(r"(.*?)(\([^()]*\))?$")


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


def read_lines(path):
    with open(path, encoding="ascii") as f:
        for line in f:
            if not line.startswith(" "):
                yield line


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "crates/core/data/wordnet-3.0.bin")

    # Synset names per (data file, offset), as NLTK's Lemma.name(): syntactic marker stripped.
    names = {}
    for pos in POS:
        for line in read_lines(os.path.join(src, "data." + FILES[pos])):
            fields = line.split("|")[0].split()
            offset = int(fields[0])
            count = int(fields[3], 16)
            words = [MARKER.match(fields[4 + 2 * i]).group(1) for i in range(count)]
            names[(pos, offset)] = words

    index = {}  # lemma -> {pos: [offsets]}
    for pos in POS:
        for line in read_lines(os.path.join(src, "index." + FILES[pos])):
            fields = line.split()
            lemma, line_pos = fields[0], fields[1]
            n_synsets = int(fields[2])
            n_pointers = int(fields[3])
            offsets = [int(x) for x in fields[6 + n_pointers : 6 + n_pointers + n_synsets]]
            assert len(offsets) == n_synsets and line_pos == pos, line
            index.setdefault(lemma, {})[pos] = offsets

    exceptions = {pos: {} for pos in POS}
    for pos in POS:
        with open(os.path.join(src, FILES[pos] + ".exc"), encoding="ascii") as f:
            for line in f:
                terms = line.split()
                if terms:
                    exceptions[pos][terms[0]] = terms[1:]  # later lines overwrite, as a dict

    def usable(name):
        return "_" not in name and name == name.lower()

    strings = set(index)
    for pos in POS:
        strings.update(exceptions[pos])
    for words in names.values():
        strings.update(w for w in words if usable(w))
    ordered = sorted(strings, key=lambda s: s.encode("ascii"))
    ids = {s: i for i, s in enumerate(ordered)}
    for words in names.values():
        for w in words:
            if usable(w):
                # Every usable name is itself an index lemma (checked, not assumed).
                assert w in index, w

    data = bytearray()
    blocks = []
    previous = b""
    for i, text in enumerate(ordered):
        raw = text.encode("ascii")
        if i % BLOCK == 0:
            blocks.append(len(data))
            shared = 0
        else:
            shared = 0
            while shared < min(len(raw), len(previous)) and raw[shared] == previous[shared]:
                shared += 1
        data += varint(shared) + varint(len(raw) - shared) + raw[shared:]
        previous = raw
        flags = 0
        lists = []
        for bit, pos in enumerate(POS):
            if pos in index.get(text, {}):
                flags |= 1 << bit
                found = sorted({ids[w] for off in index[text][pos] for w in names[(pos, off)] if usable(w)})
                lists.append(found)
        for bit, pos in enumerate(POS):
            if text in exceptions[pos]:
                flags |= 1 << (4 + bit)
                bases = sorted({ids[b] for b in exceptions[pos][text] if pos in index.get(b, {})})
                lists.append(bases)
        data.append(flags)
        for values in lists:
            data += varint(len(values))
            last = 0
            for v in values:
                data += varint(v - last)
                last = v

    header = b"MHWN\x01\x00\x00\x00" + struct.pack("<III", len(ordered), len(blocks), len(data))
    table = header + b"".join(struct.pack("<I", b) for b in blocks) + bytes(data)
    with open(out_path, "wb") as f:
        f.write(table)
    print(f"{out_path}: {len(ordered)} strings, {len(blocks)} blocks, {len(table)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
