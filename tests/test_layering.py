"""topogcn's sub-packages import each other in one direction only, counting
imports inside functions: nn <- models <- datasets/transforms <- engine <-
analysis/spotting <- cli (skeleton, then utils, below everything)."""
import ast
import os

import topogcn

ROOT = os.path.dirname(topogcn.__file__)
LAYER = {"utils": -1, "skeleton": 0, "nn": 1, "models": 2, "transforms": 3, "datasets": 3,
         "engine": 4, "analysis": 5, "spotting": 5, "cli": 6, "configs": 0}
#: same-layer imports allowed, one way: datasets read transforms (resampling)
SAME_LAYER_OK = {("datasets", "transforms")}


def package_imports():
    """(importing sub-package, imported sub-package, file, line) of every
    topogcn import, at any depth of the module."""
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(folder, f)
            rel = os.path.relpath(path, ROOT).split(os.sep)
            src = rel[0][:-3] if len(rel) == 1 else rel[0]
            tree = ast.parse(open(path, encoding="utf-8").read())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                for name in names:
                    parts = name.split(".")
                    if parts[0] == "topogcn" and len(parts) > 1:
                        yield src, parts[1], os.path.relpath(path, ROOT), node.lineno


def test_every_subpackage_has_a_layer():
    subs = {e[:-3] if e.endswith(".py") else e for e in os.listdir(ROOT)
            if not e.startswith(("_", ".")) and (e.endswith(".py") or
                                                 os.path.isdir(os.path.join(ROOT, e)))}
    assert subs <= set(LAYER), sorted(subs - set(LAYER))


def test_imports_go_down_the_layers():
    bad = []
    for src, dst, path, line in package_imports():
        if src == dst or src not in LAYER or dst not in LAYER:
            continue
        if LAYER[dst] < LAYER[src] or (src, dst) in SAME_LAYER_OK:
            continue
        bad.append(f"{path}:{line}: {src} imports {dst}")
    assert not bad, "\n".join(bad)


def test_no_cycle_between_subpackages():
    edges = {}
    for src, dst, _, _ in package_imports():
        if src != dst:
            edges.setdefault(src, set()).add(dst)

    def reaches(a, b, seen=()):
        return any(n == b or (n not in seen and reaches(n, b, seen + (n,)))
                   for n in edges.get(a, ()))

    cycles = sorted(a for a in edges if reaches(a, a))
    assert not cycles, cycles
