"""topogcn's sub-packages import each other in one direction only, counting
imports inside functions: nn <- models <- datasets/transforms <- engine <-
analysis/spotting <- cli (skeleton, then utils, below everything; io, the
file readers and writers, just above skeleton).  Module-level rules: the
engine, analysis and spotting never import a concrete dataset module (they
build datasets through the registry)."""
import ast
import os

import topogcn

ROOT = os.path.dirname(topogcn.__file__)
LAYER = {"utils": -1, "skeleton": 0, "io": 1, "nn": 1, "models": 2, "transforms": 3,
         "datasets": 3, "engine": 4, "analysis": 5, "spotting": 5, "cli": 6, "configs": 0}
#: the datasets' generic modules; every other module of topogcn.datasets is a concrete dataset
#: (or the converters, which read concrete datasets)
GENERIC_DATASET_MODULES = {"topogcn.datasets", "topogcn.datasets.base",
                           "topogcn.datasets.registry", "topogcn.datasets.windows"}
#: sub-packages that must not import a concrete dataset module
NO_CONCRETE_DATASETS = ("engine", "analysis", "spotting")
#: same-layer imports allowed, one way: datasets read transforms (resampling)
SAME_LAYER_OK = {("datasets", "transforms")}


def module_imports():
    """(importing sub-package, imported module, file, line) of every topogcn
    import, at any depth of the module."""
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
                    if name.startswith("topogcn.") or name == "topogcn":
                        yield src, name, os.path.relpath(path, ROOT), node.lineno


def package_imports():
    """(importing sub-package, imported sub-package, file, line)."""
    for src, name, path, line in module_imports():
        parts = name.split(".")
        if len(parts) > 1:
            yield src, parts[1], path, line


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


def test_engine_analysis_and_spotting_import_no_concrete_dataset():
    bad = [f"{path}:{line}: {name}" for src, name, path, line in module_imports()
           if src in NO_CONCRETE_DATASETS and name.startswith("topogcn.datasets")
           and name not in GENERIC_DATASET_MODULES]
    assert not bad, "\n".join(bad)
    # the rule sees imports: a concrete import would be caught
    assert any(name == "topogcn.datasets.smg" for _, name, _, _ in module_imports())


def test_every_reader_lives_in_io():
    """Only topogcn.io opens skeleton data files: no other package calls the
    low-level readers' building blocks (np.load, json.load, pickle.load)."""
    import re
    pattern = re.compile(r"\b(np\.load|np\.loadtxt|json\.load|json\.loads|pickle\.load|"
                         r"pickle\.Unpickler)\(")
    allowed = {"io", "engine", "analysis"}  # engine: run metadata; analysis: its own report
    # a skeleton's own description file; the processed cache's index
    own_files = {os.path.join("skeleton", "skeleton.py"), os.path.join("datasets", "base.py")}
    bad = []
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, ROOT)
                sub = rel.split(os.sep)[0]
                if sub in allowed or rel in own_files:
                    continue
                for n, line in enumerate(open(path, encoding="utf-8"), start=1):
                    if pattern.search(line):
                        bad.append(f"{rel}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)
