"""The package's shape (docs/design.md, section 2): no import circles, imports only go down the
layers written there, and no function takes more than 8 parameters without keyword-only ones.

Imports are read with ``ast`` from every module of ``src/retland``, at module level and inside
functions alike (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
import os
import re


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(REPO, "src")
DESIGN = os.path.join(REPO, "docs", "design.md")


def modules(src: str) -> dict[str, str]:
    """Dotted module name -> file, for every ``.py`` under ``src``."""
    out = {}
    for root, _, files in os.walk(src):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(root, f)
                parts = os.path.relpath(path, src)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                out[".".join(parts)] = path
    return out


def import_graph(src: str, root: str = "retland") -> dict[str, set[str]]:
    """module -> the package modules it imports (``from a import b`` counts ``a.b`` when b is a
    module, else ``a``), at any depth of the module's code."""
    mods = modules(src)
    graph = {m: set() for m in mods}
    for mod, path in mods.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        package = mod if path.endswith("__init__.py") else mod.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in mods else stem for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:  # a name inside a module -> the module
                    t = t.rpartition(".")[0]
                if t and t != mod and (t == root or t.startswith(root + ".")):
                    graph[mod].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]; counter[0] += 1
        stack.append(start); on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]; counter[0] += 1
                    stack.append(w); on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop(); on.discard(w); comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def layers(design: str = DESIGN) -> list[tuple[int, str]]:
    """(layer, module prefix) rows of the layer table in docs/design.md, section 2: rows
    ``| <n> | `prefix`, `prefix` ... | ... |``."""
    with open(design) as f:
        text = f.read()
    section = text.split("## 2.", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        m = re.match(r"^\|\s*(\d+)\s*\|([^|]*)\|", line)
        if m:
            rows += [(int(m.group(1)), p) for p in re.findall(r"`([\w.]+)`", m.group(2))]
    return rows


def layer_of(module: str, table) -> int | None:
    best = None
    for layer, prefix in table:
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[1]):
                best = (layer, prefix)
    return None if best is None else best[0]


def layer_violations(graph, table) -> list[str]:
    out = []
    for a in sorted(graph):
        la = layer_of(a, table)
        if la is None:
            out.append(f"{a}: in no layer of docs/design.md section 2")
            continue
        for b in sorted(graph[a]):
            lb = layer_of(b, table)
            if lb is not None and lb > la:
                out.append(f"{a} (layer {la}) imports {b} (layer {lb})")
    return out


# --- the checker itself, on a made-up package: it must be able to fail ----------------------

def _write(root, files):
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_checker_finds_a_circle_through_a_function_level_import(tmp_path):
    _write(tmp_path, {"retland/__init__.py": "", "retland/a.py": "from . import b\n",
                      "retland/b.py": "def f():\n    from .a import x\n",
                      "retland/c.py": "import retland.a\n"})
    g = import_graph(str(tmp_path))
    assert g["retland.b"] == {"retland.a"} and g["retland.c"] == {"retland.a"}
    assert cycles(g) == [["retland.a", "retland.b"]]


def test_checker_finds_an_upward_import_and_an_unplaced_module(tmp_path):
    _write(tmp_path, {"retland/__init__.py": "", "retland/base/__init__.py": "",
                      "retland/base/x.py": "from ..jobs.y import z\n", "retland/jobs/__init__.py": "",
                      "retland/jobs/y.py": "from ..base import x\n", "retland/stray.py": ""})
    table = [(0, "retland.base"), (0, "retland"), (7, "retland.jobs")]
    g = import_graph(str(tmp_path))
    found = layer_violations(g, table)
    assert "retland.base.x (layer 0) imports retland.jobs.y (layer 7)" in found
    assert not any("retland.jobs.y (layer 7)" in v and "imports retland.base" in v for v in found)
    assert layer_of("retland.stray", table) == 0  # the root row places what nothing else claims


# --- the package ---------------------------------------------------------------------------

def test_design_md_has_the_layer_table():
    table = layers()
    assert len({layer for layer, _ in table}) >= 5, table
    assert (0, "retland.base") in table


def test_no_import_circles():
    found = cycles(import_graph(SRC))
    assert not found, "import circles in src/retland:\n  " + "\n  ".join(" <-> ".join(c) for c in found)


def test_imports_only_go_down_the_layers():
    bad = layer_violations(import_graph(SRC), layers())
    assert not bad, "imports against the layer order of docs/design.md section 2:\n  " + "\n  ".join(bad)


MAX_PARAMS, MAX_POSITIONAL = 8, 4


def long_signatures(src: str) -> list[str]:
    """Functions with more than 8 parameters (``self``/``cls`` not counted) that take more than
    the first 4 positionally."""
    out = []
    for mod, path in sorted(modules(src).items()):
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                pos = [x.arg for x in a.posonlyargs + a.args if x.arg not in ("self", "cls")]
                if len(pos) + len(a.kwonlyargs) > MAX_PARAMS and len(pos) > MAX_POSITIONAL:
                    out.append(f"{mod}.{node.name} (line {node.lineno}): {len(pos)} positional, "
                               f"{len(a.kwonlyargs)} keyword-only")
    return out


def test_signature_checker(tmp_path):
    _write(tmp_path, {"retland/__init__.py": "",
                      "retland/m.py": "def ok(a, b, c, d, *, e, f, g, h, i): pass\n"
                                      "def short(a, b, c, d, e, f, g, h): pass\n"
                                      "def bad(a, b, c, d, e, *, f, g, h, i): pass\n"})
    assert [s.split(" ")[0] for s in long_signatures(str(tmp_path))] == ["retland.m.bad"]


def test_no_long_positional_signatures():
    bad = long_signatures(SRC)
    assert not bad, (f"functions with more than {MAX_PARAMS} parameters must take all but the first "
                     f"{MAX_POSITIONAL} as keyword-only (after `*`):\n  " + "\n  ".join(bad))
