#!/usr/bin/env python3
"""Turns the leaderboard tables of the benchmark's README into crates/core/data/leaderboard.json.

Usage: leaderboard_from_readme.py README.md COMMIT > crates/core/data/leaderboard.json
The README is russellyq/MedHallTune's (the commit is recorded as the source). Values are copied
as published (two decimals); nothing is computed.
"""
import json
import sys

COLUMNS = ["clinical_accuracy", "clinical_relevance", "detail_level", "risk_level", "bertscore", "meteor"]


def main():
    readme, commit = sys.argv[1], sys.argv[2]
    groups, rows, group = [], [], None
    for line in open(readme, encoding="utf-8"):
        line = line.strip()
        if line.startswith("### ") and "Models" in line or line.startswith("### Open-source"):
            group = line[4:].strip()
            groups.append(group)
            continue
        if group and line.startswith("| ") and " / " in line:
            cells = [c.strip() for c in line.strip("|").split("|")]
            values = {}
            for name, cell in zip(COLUMNS, cells[1:]):
                p, n = (float(v) for v in cell.split("/"))
                values[name] = [p, n]
            rows.append({"model": cells[0], "group": group, "values": values})
    out = {
        "source": f"russellyq/MedHallTune README.md, section 'MedHallTune Benchmark Results', at commit {commit}",
        "commit": commit,
        "columns": COLUMNS,
        "splits": ["positive", "negative"],
        "groups": groups,
        "notes": [
            "Values as published, two decimals; the published rows have no intervals.",
            "BiomedGPT and MedGemma-4B are published with identical values in every column.",
        ],
        "rows": rows,
    }
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
