#!/usr/bin/env python3
"""Which GPU kernels each stage of a model run compiled, and how large their generated code is.

Reads the stderr of `bench_model` run on wgpu with MEDHALL_BENCH_STAGE_MARKS=1 and cubecl's
compilation log on stderr at the "full" level (a `cubecl.toml` in the working directory):

    [compilation.logger]
    level = "full"
    stderr = true

    MEDHALL_BENCH_DEVICE=wgpu MEDHALL_BENCH_STAGE_MARKS=1 bench_model DIR 16 none 2> run.err
    python3 scripts/compile_log_by_stage.py run.err [BEFORE.err]

For each stage (what ran between one "[bench stage]" line and the next, so a run's first stage
also holds loading the model) it prints the kernels compiled, each with the number of lines of
its generated source: a first decoding step that compiles large kernels is slow in a fresh
process, and more so where compiling is expensive (SwiftShader in the browser). With a second file (another build's run) it also lists the kernels, by their full id,
that only one of the two runs compiled.
"""
import re
import sys

START, END = "[START_KERNEL_COMPILATION]", "[END_KERNEL_COMPILATION]"


def read(path):
    """[(stage, kernel id text, short name, generated source lines)] in order, each kernel
    placed in the stage whose mark follows it (the stage that compiled it)."""
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    kernels, pending, i = [], [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("[bench stage] "):
            stage = line[len("[bench stage] "):].removesuffix(" done")
            kernels += [(stage, *k) for k in pending]
            pending = []
        elif line == START:
            j = i + 1
            while j < len(lines) and lines[j] != END:
                j += 1
            text = "\n".join(lines[i + 1:j])
            at = text.find("id: KernelId")
            source = text.find("\nsource", at)
            kernel_id = re.sub(r"\s+", " ", text[at:source if source > 0 else len(text)])
            name = re.search(r"type: ([^<,\s]*)", kernel_id)
            name = name.group(1).split("::")[-1] if name else "?"
            # Lines after "source:": the generated shader.
            body = text[source:].count("\n") - 1 if source > 0 else 0
            pending.append((kernel_id, name, max(body, 0)))
            i = j
        i += 1
    return kernels + [("after the last stage", *k) for k in pending]


def summary(path, kernels):
    print(f"{path}: {len(kernels)} kernels compiled")
    stages = []
    for k in kernels:
        if not stages or stages[-1][0] != k[0]:
            stages.append((k[0], []))
        stages[-1][1].append(k)
    for stage, ks in stages:
        total = sum(k[3] for k in ks)
        print(f"  {stage}: {len(ks)} compiled, {total} lines of generated code")
        for _, _, name, size in ks:
            print(f"      {name:<24} {size:>6} lines")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    runs = [(p, read(p)) for p in sys.argv[1:]]
    for path, kernels in runs:
        if not kernels:
            sys.exit(f"{path}: no kernel compilations found (is cubecl's log level \"full\", on stderr?)")
        summary(path, kernels)
    if len(runs) == 2:
        (a, ka), (b, kb) = runs
        ids_a, ids_b = {k[1] for k in ka}, {k[1] for k in kb}
        for path, ks, other in ((a, ka, ids_b), (b, kb, ids_a)):
            only = [k for k in ks if k[1] not in other]
            print(f"only in {path}: {len(only)}")
            for stage, _, name, size in only:
                print(f"      {name:<24} {size:>6} lines, in {stage}")


if __name__ == "__main__":
    main()
