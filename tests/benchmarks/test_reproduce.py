import importlib.util
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "reproduce", os.path.join(HERE, "..", "..", "benchmarks", "reproduce.py"))
reproduce = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reproduce)


@pytest.mark.parametrize("dataset", ["smg", "imigue"])
def test_smoke_runs_every_row(tmp_path, dataset, capsys):
    out = tmp_path / "rep"
    assert reproduce.main(["--dataset", dataset, "--smoke", "--out", str(out),
                           "--set", "trainer.threads=1"]) == 0
    table = (out / "table.md").read_text()
    for name in ("GE-CN", "Baseline (no self-attention)", "ST-GCN",
                 "GE-CN spotting (topogcn)", "F1 @ IoU 0.5", "top-1, last epoch",
                 "top-1, best test epoch", "reports the best test epoch"):
        assert name in table
    paper = reproduce.PAPER[dataset]["gecn"]
    assert f"{paper[0]:.2f}" in table
    for row in reproduce.ROWS:
        assert (out / row / "metrics.json").is_file()
    import json
    res = json.loads((out / "results.json").read_text())
    assert res["gecn"]["protocol"] == "official" and "last" in res["gecn"]
    assert res["gecn"]["best"]["top1"] >= 0 and res["gecn"]["checkpoint"] == "best"
    # the spotting row is the default (frame-level) spotting recipe
    spot = res["gecn_spotting"]
    assert spot["method"] == "frames" and spot["budget"]["steps_run"] == 4
    assert "frame accuracy" in table and spot["num_val"] >= 1


def test_wrong_root_says_where_to_get_the_data(tmp_path, capsys):
    assert reproduce.main(["--dataset", "smg", "--root", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "not usable" in err and "Sample0001_skeleton.csv" in err
    assert "distributed by its authors" in err
