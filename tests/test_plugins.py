"""A separate package adds a skeleton, a dataset, a model and a converter
through Python entry points, and `topogcn train` / `convert` / `skeletons`
use them without any change to topogcn."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from topogcn.utils.registry import Registry, RegistryError

TOPOGCN = os.path.join(os.path.dirname(sys.executable), "topogcn")

PLUGIN = textwrap.dedent('''
    """A plugin package: a three-joint skeleton, a dataset on it, a small
    model and a converter."""
    import os

    from topogcn.datasets import SyntheticMicroGestures
    from topogcn.io.folder import write_folder
    from topogcn.models import GECN
    from topogcn.skeleton import Skeleton


    def tri():
        return Skeleton("plugin_tri", 3, [(0, 1), (1, 2)], center=1,
                        joint_names=["a", "b", "c"])


    def build_dataset(root, split, *, skeleton=None, frames=32, val_subjects=None, **options):
        return SyntheticMicroGestures(split, skeleton=tri(), frames=frames,
                                      val_subjects=val_subjects, num_classes=3, num_subjects=5,
                                      test_subjects=1, gestures_per_class=2)


    build_dataset.needs_root = False
    build_dataset.description = "three joints, three classes"


    def small_gecn(num_classes, skeleton, **kwargs):
        return GECN(num_classes=num_classes, skeleton=skeleton, channels=[8], strides=[1],
                    **kwargs)


    def convert_lines(root, out, scale=None):
        """Each line of root/data.txt is one recording of three joints."""
        import numpy as np
        recs, rows = [], []
        with open(os.path.join(root, "data.txt")) as f:
            for i, line in enumerate(f):
                x = np.full((1, 4, 3, 2), float(line), np.float32)
                recs.append((f"r{i}.npy", x))
                rows.append([f"r{i}.npy", "one", "", "", i, "train"])
        return write_folder(out, tri(), recs, rows, ["one"], ["x", "y"])


    convert_lines.description = "one recording per line"
''')

ENTRY_POINTS = textwrap.dedent("""
    [topogcn.skeletons]
    plugin_tri = topogcn_test_plugin:tri

    [topogcn.datasets]
    plugin-tri = topogcn_test_plugin:build_dataset

    [topogcn.models]
    plugin-gecn = topogcn_test_plugin:small_gecn

    [topogcn.converters]
    plugin-lines = topogcn_test_plugin:convert_lines
""")


@pytest.fixture()
def plugin_env(tmp_path):
    """An installed distribution (module + dist-info with entry points) on
    PYTHONPATH, as `pip install` would leave it."""
    site = tmp_path / "site"
    info = site / "topogcn_test_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "topogcn_test_plugin.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: topogcn-test-plugin\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    env = dict(os.environ, PYTHONPATH=str(site) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return env


def run(args, env, cwd):
    return subprocess.run([TOPOGCN] + args, capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


@pytest.mark.skipif(not os.path.exists(TOPOGCN), reason="the topogcn console script is needed")
def test_a_plugin_package_trains_converts_and_lists(plugin_env, tmp_path):
    p = run(["train", "--out", "run", "--set", "data.name=plugin-tri", "model.name=plugin-gecn",
             "model.kwargs={}", "data.frames=8", "trainer.epochs=1", "trainer.threads=1",
             "trainer.baselines=false"], plugin_env, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    m = json.load(open(tmp_path / "run" / "metrics.json"))
    assert len(m["classes"]) == 3 and m["num_test"] > 0
    p = run(["skeletons"], plugin_env, tmp_path)
    assert "plugin_tri" in p.stdout
    p = run(["convert", "--list"], plugin_env, tmp_path)
    assert p.returncode == 0 and "plugin-lines" in p.stdout and "one recording per line" in \
        p.stdout and "[topogcn-test-plugin]" in p.stdout
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "data.txt").write_text("1\n2\n")
    p = run(["convert", "--from", "plugin-lines", "--root", "src", "--out", "conv"],
            plugin_env, tmp_path)
    assert p.returncode == 0, p.stderr
    assert "2 recordings" in p.stdout and (tmp_path / "conv" / "skeleton.json").is_file()
    p = run(["convert", "--from", "plugin-lines", "--root", "src", "--out", "c2",
             "--labels", "x.csv"], plugin_env, tmp_path)
    assert p.returncode == 2 and "--from plugin-lines does not take --labels" in p.stderr
    # without the plugin on the path: a clear error listing what exists
    p = run(["train", "--set", "data.name=plugin-tri"], dict(os.environ), tmp_path)
    assert p.returncode == 2 and "unknown dataset 'plugin-tri'" in p.stderr
    assert "Traceback" not in p.stderr


def test_registry_names_duplicates_and_broken_plugins(monkeypatch):
    reg = Registry("widget", "topogcn.test_widgets", defaults={"needs_root": True})
    reg.add("one", object(), aliases=["uno"], description="the first")
    assert reg.names() == ["one"] and reg.entry("uno").name == "one"
    assert reg.entry("one").meta == {"needs_root": True, "description": "the first"}
    with pytest.raises(RegistryError, match="already registered"):
        reg.add("one", object())
    with pytest.raises(RegistryError, match=r"unknown widget 'onf'; did you mean 'one'\?"):
        reg.get("onf")

    class BrokenEntryPoint:
        name, value, group, dist = "broken", "nowhere:thing", "topogcn.test_widgets", None

        def load(self):
            raise ImportError("No module named 'nowhere'")

    from importlib import metadata
    monkeypatch.setattr(metadata, "entry_points", lambda group: [BrokenEntryPoint()])
    reg = Registry("widget", "topogcn.test_widgets")
    with pytest.raises(RegistryError, match=r"widget plugin 'broken' \(nowhere:thing.*cannot "
                                            r"be loaded: ImportError"):
        reg.names()
