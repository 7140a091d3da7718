#!/usr/bin/env bash
# The crate graph (issue 28), checked on every test run:
# 1. Every arrow between this workspace's crates (normal, build and dev dependencies, any
#    target) is one that ARCHITECTURE.md's `| crate | may depend on |` table writes down, and the
#    table states no arrow that is not there: a new arrow, or a new crate, must be written down.
# 2. Whatever the table says, no arrow points back up: medhall-metrics depends on no crate of
#    ours, medhall-core and medhall-model on none but medhall-metrics, nothing on a frontend (the
#    CLI, the page, the two workers), medhall-app on none but the two below it, medhall-reference-stack is only ever a dev-dependency, and
#    the arrows, dev ones included, form no cycle.
# 3. The platform-free layers, medhall-metrics, medhall-core and medhall-app, have no web crates and
#    no burn in their trees (native or wasm32), and their other direct dependencies are exactly
#    the lists below, which their rows in ARCHITECTURE.md's crate table state.
set -euo pipefail
cd "$(dirname "$0")/.."
doc=ARCHITECTURE.md
[ -f "$doc" ] || doc=README.md

metadata=$(mktemp)
trap 'rm -f "$metadata"' EXIT
cargo metadata --format-version 1 --no-deps >"$metadata"
python3 - "$doc" "$metadata" <<'EOF'
import json, re, sys

doc = sys.argv[1]
meta = json.load(open(sys.argv[2], encoding="utf-8"))
ours = {p["name"] for p in meta["packages"]}
frontends = {"medhall-cli", "medhall-lens", "medhall-worker", "medhall-model-worker"}
errors = []

# Actual arrows: (from, to) -> set of kinds ("normal", "build", "dev").
actual = {}
for package in meta["packages"]:
    for dep in package["dependencies"]:
        if dep["name"] in ours:
            actual.setdefault((package["name"], dep["name"]), set()).add(dep["kind"] or "normal")

# The table: `| crate | may depend on |`, cells like "`medhall-core`, `medhall-reference-stack` (dev)".
allowed, rows, in_table = {}, set(), False
for line in open(doc, encoding="utf-8"):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if not line.startswith("|"):
        in_table = False
        continue
    if [c.lower() for c in cells] == ["crate", "may depend on"]:
        in_table = True
        continue
    if not in_table or set(cells[0]) <= set("-: "):
        continue
    name = cells[0].strip("`")
    if name not in ours:
        errors.append(f"{doc} lists {name!r}, which is not a crate of this workspace")
    rows.add(name)
    for item in filter(None, (i.strip() for i in cells[1].split(","))):
        match = re.fullmatch(r"`?([A-Za-z0-9_-]+)`?\s*(\(dev\))?", item)
        if item in ("—", "-", "none"):
            continue
        if not match or match.group(1) not in ours:
            errors.append(f"{doc}: {name}'s 'may depend on' has {item!r}, not a crate of this workspace")
            continue
        allowed[(name, match.group(1))] = "dev" if match.group(2) else "any"
if not rows:
    errors.append(f"{doc} has no `| crate | may depend on |` table")

for name in sorted(ours - rows):
    errors.append(f"{name} has no row in {doc}'s `| crate | may depend on |` table: write down what it may depend on")
for (a, b), kinds in sorted(actual.items()):
    rule = allowed.get((a, b))
    if rule is None:
        errors.append(f"{a} -> {b} ({'+'.join(sorted(kinds))}) is not allowed by {doc}")
    elif rule == "dev" and kinds != {"dev"}:
        errors.append(f"{a} -> {b} is allowed by {doc} as a dev-dependency only, but is {'+'.join(sorted(kinds))}")
for (a, b), rule in sorted(allowed.items()):
    if (a, b) not in actual:
        errors.append(f"{doc} allows {a} -> {b}, which no Cargo.toml declares: remove it from the table")
    elif rule == "any" and actual[(a, b)] == {"dev"}:
        errors.append(f"{doc} allows {a} -> {b} for any kind, but it is a dev-dependency: mark it (dev)")

# Arrows back up, whatever the table says: what the lower layers may reach (test support aside).
below = {
    "medhall-metrics": set(),
    "medhall-core": {"medhall-metrics"},
    "medhall-model": {"medhall-metrics"},
    "medhall-app": {"medhall-core", "medhall-metrics"},
}
for (a, b), kinds in sorted(actual.items()):
    test_support = b == "medhall-reference-stack" and kinds == {"dev"}
    if a in below and b not in below[a] and not test_support:
        reach = ", ".join(sorted(below[a])) + " only" if below[a] else "no crate of ours"
        errors.append(f"{a} -> {b} points back up: {a} may depend on {reach}")
    if b in frontends:
        errors.append(f"{a} -> {b}: nothing depends on a frontend")
    if b == "medhall-reference-stack" and kinds != {"dev"}:
        errors.append(f"{a} -> medhall-reference-stack is {'+'.join(sorted(kinds))}: it is test support, a dev-dependency only")
graph = {}
for a, b in actual:
    graph.setdefault(a, set()).add(b)
def cycle_from(start):
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None
def rotated(c):
    c = c[:-1]
    i = c.index(min(c))
    return tuple(c[i:] + c[:i] + [c[i]])
cycles = {rotated(c) for c in map(cycle_from, sorted(graph)) if c}
for c in sorted(cycles):
    errors.append("cycle (dev-dependencies included): " + " -> ".join(c))

if errors:
    for e in errors:
        print(f"check-core-deps: {e}", file=sys.stderr)
    sys.exit(1)
print(f"check-core-deps: the {len(actual)} arrows between the {len(ours)} crates are the ones {doc} allows, none points back up, no cycle")
for a in sorted(ours):
    deps = sorted(f"{b}{' (dev)' if k == {'dev'} else ''}" for (x, b), k in actual.items() if x == a)
    print(f"  {a} -> {', '.join(deps) or '(none of ours)'}")
EOF

banned='^(web-sys|js-sys|wasm-bindgen|wasm-bindgen-futures|leptos|leptos_[a-z_]+|gloo|gloo-[a-z-]+|burn|burn-[a-z-]+|reactive_graph)$'
internal=$(python3 -c 'import json, sys; print("\n".join(p["name"] for p in json.load(sys.stdin)["packages"]))' <"$metadata")
# crate, its folder (the row in the crate table), its external direct dependencies.
while read -r crate folder allowed; do
  for target in x86_64-unknown-linux-gnu wasm32-unknown-unknown; do
    found=$(cargo tree -p "$crate" -e normal --target "$target" --prefix none --format '{p}' \
      | awk '{print $1}' | sort -u | grep -E "$banned" || true)
    if [ -n "$found" ]; then
      echo "check-core-deps: $crate depends on forbidden crates for $target: $found" >&2
      exit 1
    fi
    direct=$(cargo tree -p "$crate" -e normal --target "$target" --depth 1 --prefix none --format '{p}' \
      | awk 'NR > 1 {print $1}' | { grep -vxF "$internal" || true; } | sort -u | tr '\n' ' ' | sed 's/ $//')
    expected=$(echo "$allowed" | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//')
    if [ "$direct" != "$expected" ]; then
      echo "check-core-deps: $crate's direct dependencies (besides ours) for $target are '$direct'; this script and $doc allow '$expected'" >&2
      exit 1
    fi
  done
  row=$(grep -E "^\| \`$folder\`" "$doc" || true)
  for dep in $allowed; do
    if ! grep -qF "$dep" <<<"$row"; then
      echo "check-core-deps: $doc's $folder row does not list $dep" >&2
      exit 1
    fi
  done
  echo "check-core-deps: $crate has no web-sys/leptos/burn in its tree (native and wasm32); its other direct dependencies are the ones $doc lists: $allowed"
done <<'LIST'
medhall-metrics crates/metrics serde thiserror
medhall-core crates/core serde serde_json csv-core thiserror hashbrown url
medhall-app crates/app serde serde_json
LIST
