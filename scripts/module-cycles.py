#!/usr/bin/env python3
"""Fails when modules of one crate import each other in a cycle.

Each file is a module (`mod.rs` / `lib.rs` stands for its folder). A module depends on
a sibling when anything in it, or in its submodules, names anything in the sibling's
subtree (`use crate::…`, `use super::…`, or a path written inline). A parent naming its
own children (declaring and re-exporting them) is structure, not a dependency. Cycles are
looked for among the siblings under every parent, so `app` ↔ `views` and
`desktop::events` ↔ `desktop::services` are both found.

Usage: scripts/module-cycles.py <crate src dir>...   (exit 1 and the cycles if any)
"""

import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE = re.compile(r"\buse\s+(crate|super|self)\s*::\s*\{", re.S)


def module_of(src: Path, file: Path) -> tuple:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(
        line.split("//")[0] if '"' not in line else re.sub(r"^\s*//.*", "", line)
        for line in text.split("\n")
    )


def expand_use_trees(text: str):
    """`use crate::{a, b::{c, d}}` → crate::a, crate::b::c, crate::b::d."""
    out = []
    for m in USE.finditer(text):
        root, i, depth = m.group(1), m.end(), 1
        j = i
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        out.extend(root + "::" + p for p in flatten(text[i : j - 1]))
    return out


def flatten(tree: str):
    items, depth, cur = [], 0, ""
    for ch in tree:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    items.append(cur)
    for item in (i.strip() for i in items):
        if not item:
            continue
        if "{" in item:
            head, rest = item.split("{", 1)
            head = head.strip().rstrip(":").strip()
            for sub in flatten(rest.rsplit("}", 1)[0]):
                yield f"{head}::{sub}" if head else sub
        else:
            yield item.split(" as ")[0].strip()


def resolve(here: tuple, path: str, modules: set) -> tuple | None:
    parts = [p.strip() for p in path.split("::")]
    root, rest = parts[0], parts[1:]
    if root == "crate":
        base = ()
    elif root == "self":
        base = here
    else:
        base = here[:-1]
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    target = base
    for p in rest:
        if target + (p,) in modules:
            target = target + (p,)
        else:
            break
    return target


def cycles_in(src: Path):
    files = sorted(src.rglob("*.rs"))
    modules = {module_of(src, f) for f in files}
    edges = {}
    for f in files:
        here = module_of(src, f)
        # A file's `mod tests` is the file's own module.
        text = strip_comments(f.read_text())
        paths = [m.group(1) + m.group(2) for m in PATH.finditer(text)]
        paths += expand_use_trees(text)
        for p in paths:
            target = resolve(here, p, modules)
            if target is None or target == here:
                continue
            if target[: len(here)] == here:
                continue  # a parent naming its own children
            edges.setdefault(here, set()).add(target)
    # Between the siblings under every parent.
    found = []
    parents = {m[:-1] for m in modules if m}
    for parent in sorted(parents):
        kids = sorted(m for m in modules if len(m) == len(parent) + 1 and m[:-1] == parent)
        graph = {k: set() for k in kids}
        for a, targets in edges.items():
            if a[: len(parent)] != parent or len(a) <= len(parent):
                continue
            ka = a[: len(parent) + 1]
            for t in targets:
                if t[: len(parent)] != parent or len(t) <= len(parent):
                    continue
                kt = t[: len(parent) + 1]
                if kt != ka:
                    graph[ka].add(kt)
        found.extend(strongly_connected(graph))
    return found


def strongly_connected(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main(dirs):
    bad = 0
    for d in dirs:
        for comp in cycles_in(Path(d)):
            bad += 1
            names = ", ".join("::".join(m) for m in comp)
            print(f"{d}: modules that import each other: {names}")
    if bad:
        sys.exit(1)
    print(f"no module import cycles in {len(dirs)} crates")


if __name__ == "__main__":
    main(sys.argv[1:])
