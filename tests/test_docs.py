"""Every documented command is a test: the shell and Python blocks of the
README and the tutorials run as written, page by page in a fresh folder
(where ``benchmarks/`` of the repository is at hand, as in a clone), with a
tiny training budget (``TOPOGCN_SET``).  The Python blocks of a page are
one session, as a reader types them: each runs after the page's earlier
Python blocks.  A block a test cannot run (it needs a real dataset, or it is
``make test`` itself) carries a ``not-run`` marker with the reason right
before it, which this file checks too."""
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
#: the tiny budget every training command of the docs gets
TINY = ("trainer.steps=2 trainer.epochs=1 trainer.baselines=false trainer.threads=2 "
        "trainer.progress_bar=false")
#: the pages whose commands run, and whether a page takes long (marked slow: CI runs the
#: slow tests too, ``.ci/run``)
PAGES = {
    "README.md": True,
    "docs/index.rst": False,
    "docs/datasets.rst": False,
    "docs/tutorials/train.rst": True,
    "docs/tutorials/custom_data.rst": False,
    "docs/tutorials/spotting.rst": True,
    "docs/tutorials/analysis.rst": True,
    "docs/tutorials/reproduce.rst": False,
    "docs/howto/custom_skeleton.rst": False,
    "docs/benchmarks.rst": False,
}
_RST_BLOCK = re.compile(r"^(?P<skip>\.\. not-run: (?P<why>.+)\n\n)?"
                        r"\.\. code-block:: (?P<lang>bash|python)\n(?:   :\w+:.*\n)*\n"
                        r"(?P<body>(?:(?:   .*)?\n)+)", re.M)
_MD_BLOCK = re.compile(r"^(?P<skip><!-- not-run: (?P<why>.+) -->\n)?"
                       r"```(?P<lang>bash|python)\n(?P<body>.*?)^```", re.M | re.S)


def blocks(page):
    """``(language, code, reason not run or None)`` of every bash/python
    block of ``page``, in order."""
    text = open(os.path.join(ROOT, page), encoding="utf-8").read()
    pattern = _MD_BLOCK if page.endswith(".md") else _RST_BLOCK
    out = []
    for m in pattern.finditer(text):
        body = m.group("body")
        if not page.endswith(".md"):
            body = "\n".join(line[3:] for line in body.splitlines())
        out.append((m.group("lang"), body.strip() + "\n", m.group("why")))
    return out


def test_every_page_with_commands_is_listed():
    """A new page with commands joins PAGES (or its commands would go untested)."""
    pages = ["README.md"] + [os.path.relpath(os.path.join(d, f), ROOT)
                             for d, _, files in os.walk(os.path.join(ROOT, "docs"))
                             for f in files if f.endswith(".rst") and "_build" not in d]
    with_code = {p for p in pages if blocks(p)}
    assert with_code <= set(PAGES), sorted(with_code - set(PAGES))
    for page in PAGES:
        assert blocks(page), f"{page} has no bash/python block"
        text = open(os.path.join(ROOT, page), encoding="utf-8").read()
        markers = text.count("not-run:")
        assert markers == sum(1 for b in blocks(page) if b[2]), \
            f"{page}: a not-run marker is not right before its block"
        for lang, code, why in blocks(page):
            assert why is None or len(why) > 15, f"{page}: say why a block is not run"


def run_page(page, tmp_path):
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"], TOPOGCN_SET=TINY,
               TOPOGCN_CACHE=str(tmp_path / "cache"), MPLBACKEND="Agg")
    os.symlink(os.path.join(ROOT, "benchmarks"), tmp_path / "benchmarks")
    ran, session = 0, ""
    for lang, code, why in blocks(page):
        if why:
            continue
        if lang == "python":
            session += code + "\n"
        cmd = ["bash", "-e", "-o", "pipefail", "-c", code] if lang == "bash" else \
            [sys.executable, "-c", session]
        p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=1200)
        assert p.returncode == 0, f"{page}:\n{code}\n--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}"
        assert "Traceback" not in p.stderr, f"{page}:\n{code}\n{p.stderr}"
        ran += 1
    assert ran, f"{page}: no block ran"


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.slow) if slow else p
                                  for p, slow in PAGES.items()
                                  if any(why is None for _, _, why in blocks(p))])
def test_documented_commands_run_as_written(page, tmp_path):
    run_page(page, tmp_path)


def _table(path):
    """The rows of a markdown table written by a benchmark (header -> cell)."""
    lines = [line for line in open(os.path.join(ROOT, path), encoding="utf-8")
             if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|\n").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|\n").split("|"))))
            for line in lines[2:]]


def test_readme_figures_are_the_current_benchmark_results():
    """The README's tables are copied from benchmarks/results, not remembered:
    a re-run benchmark that changes a figure fails here until the README follows."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    defaults = {r["data"]: r for r in _table("benchmarks/results/bench_defaults.md")}
    for data in ("synthetic", "synthetic-hands"):
        r = defaults[data]
        assert f"| {r['GE-CN top-1']} | {r['linear']} | {r['chance']} |" in readme, data
        assert r["stopped by"] != "time limit", data
    model = {(r["config"], r["mode"], r["implementation"]): r
             for r in _table("benchmarks/results/bench_model.md")}
    for config in ("ntu25", "openpose137"):
        train = model[(config, "train", "topogcn")]
        infer = model[(config, "eval", "topogcn")]
        cells = [train["x plain"].split()[0] + "x", infer["x plain"].split()[0] + "x",
                 f"{float(train['x plain (memory)']):.2f}x"]
        assert f"| {' | '.join(cells)} |" in readme, (config, cells)


def test_readme_spotting_figures_are_the_current_benchmark_results():
    """The README's spotting table is copied from the spotting benchmark; every
    generator's default recipe reached F1 >= 0.90 at IoU 0.5 within its plan
    and beat both baselines there."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    rows = {(r["recordings"], r["method"]): r
            for r in _table("benchmarks/results/bench_defaults_spotting.md")}
    for data in ("synthetic", "synthetic-hands", "synthetic-varied"):
        cells = [rows[(data, m)]["F1 @0.5"] for m in ("frames (default)", "windows",
                                                       "linear frames")]
        assert f"| {' | '.join(cells)} |" in readme, (data, cells)
        frames = rows[(data, "frames (default)")]
        assert frames["stopped by"] == "plan", data
        assert float(cells[0].rstrip("%")) >= 90.0, data
        assert all(float(cells[0].rstrip("%")) > float(c.rstrip("%")) for c in cells[1:]), data


def test_the_long_tail_conclusions_quote_the_current_results():
    """The benchmarks page's reading of the long-tail table quotes its
    figures; a re-run that changes them fails here until the text follows."""
    page = " ".join(open(os.path.join(ROOT, "docs/benchmarks.rst"), encoding="utf-8").read()
                    .split())
    rows = {r["data, option"]: r
            for r in _table("benchmarks/results/bench_defaults_longtail.md")}

    def pc(name, column):
        return rows[name][column].rstrip("%")

    for skeleton in ("ntu25", "coco17"):
        plain, balanced = pc(skeleton, "mean class"), pc(f"{skeleton}, balanced sampling",
                                                         "mean class")
        assert f"{plain} to {balanced}% on {skeleton}" in page, skeleton
        assert float(balanced) == max(float(pc(f"{skeleton}{o}", "mean class")) for o in
                                      ("", ", sqrt weights", ", inverse weights",
                                       ", balanced sampling")), skeleton
    assert f"({pc('coco17', 'top-1')} to {pc('coco17, inverse weights', 'top-1')}%)" in page


def test_the_fidelity_page_quotes_the_current_numerics_results():
    """The float32-gradient figures on the Fidelity page are those of
    benchmarks/bench_numerics.py's results; a re-run that changes them fails
    here until the text follows."""
    page = " ".join(open(os.path.join(ROOT, "docs/fidelity.rst"), encoding="utf-8").read()
                    .split())
    rows = {r["input"]: r for r in _table("benchmarks/results/bench_numerics.md")
            if r["seed"] == "median"}
    # as written in prose: 9.2e-04 -> 9.2e-4
    g, s = ({k: re.sub(r"e(-?)0*(\d)", r"e\1\2", v) for k, v in rows[kind].items()}
            for kind in ("gaussian", "synthetic"))
    assert f"on standard normal input {g['topogcn']} against {g['reference']}" in page
    assert f"on the built-in clips {s['topogcn']} against {s['reference']}" in page
    assert f"{g['topogcn, accurate BN']} and {s['topogcn, accurate BN']}," in page
    assert f"move by {s['float64 floor']} (median)" in page
    assert f"(on standard normal input, {g['float64 floor']})" in page
    with open(os.path.join(ROOT, "benchmarks/results/bench_numerics.json"), encoding="utf-8") as f:
        results = json.load(f)
    wins = sum(r["topogcn, accurate BN"] <= r["reference"] for r in results["rows"])
    assert f"at or below the reference formulation on {wins} of the {len(results['rows'])} " \
        "inputs" in page
    timed = {r["network"]: r for r in _table("benchmarks/results/bench_numerics_step_time.md")}
    extra = 100 * (float(timed["topogcn, accurate BN"]["time vs topogcn"]) - 1)
    assert (f"{extra:.1f}% more time per paper-size training step on this CPU "
            f"({timed['topogcn, accurate BN']['s/step']} s against "
            f"{timed['topogcn']['s/step']} s" in page)


def _recipe_results():
    """bench_numerics.py --recipe: per generator, the (off, on) runs by seed."""
    with open(os.path.join(ROOT, "benchmarks/results/bench_numerics_recipe.json"),
              encoding="utf-8") as f:
        rows = json.load(f)["rows"]
    pairs = {}
    for r in rows:
        pairs.setdefault(r["data"], {}).setdefault(r["seed"], {})[r["accurate_batch_norm"]] = r
    return pairs


def test_the_fidelity_page_quotes_what_accurate_batch_norm_does_to_the_recipe():
    """The accuracy and time of the default recipe with and without
    trainer.accurate_batch_norm, as the Fidelity page gives them, are those
    of bench_numerics.py --recipe's results."""
    import statistics

    page = " ".join(open(os.path.join(ROOT, "docs/fidelity.rst"), encoding="utf-8").read()
                    .split())
    pairs = _recipe_results()

    def mean(data, on):
        return f"{100 * statistics.mean(p[on]['top1'] for p in pairs[data].values()):.1f}%"

    assert (f"mean top-1 {mean('synthetic', True)} with it against {mean('synthetic', False)} "
            f"without on the built-in data, {mean('synthetic-hands', True)} against "
            f"{mean('synthetic-hands', False)} on the hands" in page)
    gaps = [100 * (p[True]["top1"] - p[False]["top1"]) for d in pairs.values()
            for p in d.values()]
    assert f"single runs {min(gaps):.1f} to {max(gaps):+.1f} points apart" in page
    ratios = [(p[True]["train_time_s"] / p[True]["epochs"])
              / (p[False]["train_time_s"] / p[False]["epochs"])
              for d in pairs.values() for p in d.values()]
    ratio = statistics.median(ratios)
    assert f"an epoch trains {100 * (ratio - 1):.0f}% longer (median ratio {ratio:.2f})" in page


def test_the_readme_gives_the_default_recipes_spread_over_seeds():
    """The README's seed spread of the default recipe is bench_numerics.py
    --recipe's (the option off, the default), and it contains seed 0's
    figure of the table above it."""
    readme = " ".join(open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().split())
    pairs = _recipe_results()
    spans = []
    for data in ("synthetic", "synthetic-hands"):
        top1 = [100 * p[False]["top1"] for p in pairs[data].values()]
        spans.append(f"{min(top1):.1f}-{max(top1):.1f}%")
    seeds = sorted(pairs["synthetic"])
    assert (f"over seeds {seeds[0]}-{seeds[-1]} the same command gives {spans[0]} on the "
            f"built-in data and {spans[1]} on the hands" in readme)


def test_the_readme_and_the_help_name_every_config_and_converter(capsys):
    from topogcn.cli import build_parser, packaged_configs
    from topogcn.datasets.convert import CONVERTERS
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    configs = packaged_configs()
    assert len(configs) == len(os.listdir(os.path.join(ROOT, "topogcn", "configs")))
    for name in configs:
        assert f"`{name}`" in readme, name
    convert_help = build_parser()._subparsers._group_actions[0].choices["convert"].format_help()
    for name in CONVERTERS.names():
        assert name in readme and name in convert_help, name
    train_help = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert all(name in " ".join(train_help.split()) for name in configs)


@pytest.mark.slow
def test_the_readme_export_accepts_the_checkpoint_of_the_main_job(tmp_path):
    """The README's main job (the default recipe, full budget) and then its
    export command, as written: the export check judges this checkpoint
    fairly and writes the model."""
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"])
    env.pop("TOPOGCN_SET", None)
    for cmd in ("topogcn train --out runs/first --set trainer.progress_bar=false",
                "topogcn export --checkpoint runs/first/checkpoints/best.ckpt --format onnx "
                "--out gecn.onnx"):
        p = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=3000)
        assert p.returncode == 0, f"{cmd}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    assert (tmp_path / "gecn.onnx").is_file() and (tmp_path / "gecn.onnx.json").is_file()
