#!/usr/bin/env python3
"""Fails when modules of the UI import each other in a cycle.

A module is a `.ts` or `.svelte` file under the folder given; it depends on another when
it imports it by a relative path (`import … from './api'`, `import('./fake')`, type-only
imports included: a cycle of types is still two files that cannot be read apart). Test
files are left out: a test may import what it tests from anywhere.

Usage: scripts/ui-cycles.py <ui src dir>   (exit 1 and the cycles if any)
"""

import re
import sys
from pathlib import Path

IMPORT = re.compile(
    r"""(?:\bimport\b[^'";]*?\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\bexport\b[^'";]*?\bfrom\s*)['"](\.{1,2}/[^'"]+)['"]"""
)
SUFFIXES = ("", ".ts", ".svelte.ts", ".svelte", "/index.ts")


def resolve(importer: Path, spec: str, known: set) -> Path | None:
    base = (importer.parent / spec).resolve()
    for suffix in SUFFIXES:
        candidate = Path(str(base) + suffix)
        if candidate in known:
            return candidate
    if base.suffix == ".js":  # `./x.js` names `./x.ts` under TypeScript's rules
        candidate = base.with_suffix(".ts")
        if candidate in known:
            return candidate
    return None


def strongly_connected(graph: dict) -> list:
    """Tarjan's algorithm; the components with more than one module, or a self-import."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    src = Path(sys.argv[1]).resolve()
    files = [
        p.resolve()
        for p in src.rglob("*")
        if p.suffix in (".ts", ".svelte") and ".test." not in p.name and "node_modules" not in p.parts
    ]
    known = set(files)
    graph = {f: set() for f in files}
    for f in files:
        for spec in IMPORT.findall(f.read_text(encoding="utf-8")):
            target = resolve(f, spec, known)
            if target is not None:
                graph[f].add(target)
    cycles = strongly_connected(graph)
    for cycle in cycles:
        print("import cycle: " + " ↔ ".join(str(p.relative_to(src)) for p in cycle))
    if not cycles:
        print(f"no import cycle among {len(files)} UI modules")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
