#!/usr/bin/env python3
"""Writes the zip fixtures for medhall-core's zip reader (crates/core/src/zip.rs).

- crates/model-check/tests/fixtures/images.zip: a stored entry, a deflated entry, an entry written with
  force_zip64 (a ZIP64 extra field in its local header only), a file in a nested folder, a
  directory entry, a macOS resource-fork entry, a non-ASCII name and an archive comment.
- crates/model-check/tests/fixtures/images-zip64.zip: the same kind of entries in a ZIP64 archive (ZIP64
  end record and locator, ZIP64 extra fields for sizes and offsets in the central directory).
  zipfile writes ZIP64 records only past 2 GiB or 65535 entries, so the script lowers its limits
  while the archive closes (as CPython's own tests do) and then sets the classic end record's
  fields to the 0xFFFF/0xFFFFFFFF "see ZIP64" markers, so a reader that ignores ZIP64 fails.
- crates/model-check/tests/fixtures/images.json: each archive's files (not the directory entry) with
  their contents in hex, for the tests to compare bytes.

Python standard library only; the output is deterministic for a given zlib.
Run from the repository root: python3 scripts/gen_zip_fixture.py
"""

import json
import struct
import zipfile
from pathlib import Path

FIXTURES = Path("crates/model-check/tests/fixtures")
DATE = (2024, 5, 17, 12, 30, 0)


def contents():
    # Bytes that look nothing like text, and text that deflates well.
    binary = bytes((i * 37 + 11) % 256 for i in range(300))
    deflatable = "".join(f"MedHallTune image stand-in, line {i}.\n" for i in range(40)).encode()
    return [
        # (name, bytes, method, force_zip64)
        ("images/pmc_1_0.jpg", binary, zipfile.ZIP_STORED, False),
        ("images/pmc_2_0.png", deflatable, zipfile.ZIP_DEFLATED, False),
        ("images/pmc_3_0.jpg", binary[::-1] * 2, zipfile.ZIP_DEFLATED, True),
        ("MedHallTune/images/deep/pmc_4_0.jpg", b"nested " * 20, zipfile.ZIP_DEFLATED, False),
        ("__MACOSX/images/._pmc_1_0.jpg", b"\x00\x05\x16\x07resource fork", zipfile.ZIP_STORED, False),
        ("images/l\u00e9sion_\u00fc.jpg", "non-ASCII name \u00e9\u00fc".encode(), zipfile.ZIP_DEFLATED, False),
        ("images/empty.jpg", b"", zipfile.ZIP_DEFLATED, False),
    ]


def write(path, files, comment):
    with zipfile.ZipFile(path, "w") as archive:
        archive.comment = comment
        archive.writestr(zipfile.ZipInfo("MedHallTune/images/", DATE), b"")
        for name, data, method, force_zip64 in files:
            info = zipfile.ZipInfo(name, DATE)
            info.compress_type = method
            with archive.open(info, "w", force_zip64=force_zip64) as out:
                out.write(data)


def write_zip64(path, files, comment):
    limits = (zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT)
    archive = zipfile.ZipFile(path, "w")
    try:
        archive.comment = comment
        archive.writestr(zipfile.ZipInfo("MedHallTune/images/", DATE), b"")
        for name, data, method, _ in files:
            info = zipfile.ZipInfo(name, DATE)
            info.compress_type = method
            archive.writestr(info, data)
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 0, 0
        archive.close()
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = limits
    data = bytearray(path.read_bytes())
    end = len(data) - 22 - len(comment)
    assert data[end : end + 4] == b"PK\x05\x06"
    assert data[end - 20 : end - 16] == b"PK\x06\x07"
    struct.pack_into("<HHIIH", data, end + 8, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, len(comment))
    path.write_bytes(bytes(data))


def main():
    files = contents()
    write(FIXTURES / "images.zip", files, b"MedHall Lens zip fixture")
    write_zip64(FIXTURES / "images-zip64.zip", files, b"ZIP64 fixture")
    manifest = {
        "files": [{"name": name, "hex": data.hex()} for name, data, _, _ in files],
        "directories": ["MedHallTune/images/"],
    }
    (FIXTURES / "images.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    for name in ("images.zip", "images-zip64.zip"):
        with zipfile.ZipFile(FIXTURES / name) as archive:
            assert archive.testzip() is None
            for file_name, data, _, _ in files:
                assert archive.read(file_name) == data
        print(f"{FIXTURES / name}: {(FIXTURES / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
