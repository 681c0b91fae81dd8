"""Same config and seed, same result: however busy the machine, with any
number of loader workers, and across a kill and a resume at any point."""
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from topogcn.cli import main as cli_main
from topogcn.engine import train
from topogcn.engine.config import ConfigError, load_config

#: a run with validation (6 subjects: 4 train, 1 validation, 1 test), 4 epochs
RUN = ["trainer.epochs=4", "trainer.baselines=false",
       "data.options={num_subjects: 6, test_subjects: 1, gestures_per_class: 4, "
       "num_classes: 3}"]


def weights(out, name="last.ckpt"):
    return torch.load(os.path.join(out, "checkpoints", name), weights_only=True)["state_dict"]


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def results(out):
    m = json.load(open(os.path.join(out, "metrics.json")))
    return (m["top1"], m["top5"], m["confusion_matrix"], m["budget"]["best_epoch"],
            m["epoch"])


def log_text(out):
    return open(os.path.join(out, "logs", "metrics.csv")).read()


class SlowFirstEpoch(Callback):
    """A machine busy during the first epoch: it takes ``seconds`` longer."""

    def __init__(self, seconds):
        self.seconds = seconds

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 0:
            time.sleep(self.seconds)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    from tests.engine.conftest import TINY
    out = str(tmp_path_factory.mktemp("repro") / "ref")
    train(load_config("synthetic", TINY + RUN + ["trainer.max_minutes=0.25"]), out)
    return out


def test_a_busy_machine_does_not_change_the_run(reference_run, tmp_path, tiny_overrides):
    """A first epoch 4 s slower in a 15 s limit: fitting the plan to the time
    would cut it (1 + 11 // 4 = 3 of 4 epochs fit); the guard lets it run,
    and the run is the quiet one, bit for bit."""
    over = tiny_overrides + RUN + ["trainer.max_minutes=0.25"]
    slow = str(tmp_path / "slow")
    train(load_config("synthetic", over), slow, callbacks=[SlowFirstEpoch(4.0)])
    assert results(slow) == results(reference_run)
    assert same_weights(weights(slow), weights(reference_run))
    assert same_weights(weights(slow, "best.ckpt"), weights(reference_run, "best.ckpt"))
    assert log_text(slow) == log_text(reference_run)
    m = json.load(open(os.path.join(slow, "metrics.json")))
    assert m["budget"]["stopped_by"] == "plan" and m["budget"]["epochs_run"] == 4
    # fitting to the time (opt-in) reshapes the same run: the test can fail
    fitted = str(tmp_path / "fitted")
    train(load_config("synthetic", over + ["trainer.fit_to_time=true"]), fitted,
          callbacks=[SlowFirstEpoch(4.0)])
    f = json.load(open(os.path.join(fitted, "metrics.json")))
    assert f["budget"]["epochs_final_plan"] < 4
    assert any("fit_to_time: " in n and "plan cut from 4" in n for n in f["budget"]["notes"])


def test_loader_workers_do_not_change_the_run(reference_run, tmp_path, tiny_overrides):
    out = str(tmp_path / "workers")
    train(load_config("synthetic", tiny_overrides + RUN + ["trainer.max_minutes=0.25",
                                                           "data.num_workers=2"]), out)
    assert results(out) == results(reference_run)
    assert same_weights(weights(out), weights(reference_run))
    assert log_text(out) == log_text(reference_run)


def test_the_time_limit_stops_a_run_and_says_so(tmp_path, tiny_overrides, capsys):
    out = str(tmp_path / "limited")
    args = ["train", "--out", out, "--set"] + tiny_overrides + RUN + ["trainer.max_minutes=1e-4"]
    assert cli_main(args) == 0
    printed = capsys.readouterr().out
    m = json.load(open(os.path.join(out, "metrics.json")))
    b = m["budget"]
    assert b["stopped_by"] == "time_limit" and m["epoch"] == b["epochs_run"] == 1
    assert b["epochs_planned"] == b["epochs_final_plan"] == 4
    line = "stopped by the 0.0001-minute limit after 1 of 4 planned epochs: not the recipe's result"
    assert line in printed
    assert any("not the recipe's result" in n for n in b["notes"])
    assert os.path.isfile(os.path.join(out, "scores.npz"))  # its best checkpoint was tested


def test_resume_refuses_another_configuration(reference_run, tmp_path, tiny_overrides, capsys):
    assert cli_main(["train", "--out", reference_run, "--resume",
                     "--set", "trainer.steps=90"]) == 2
    assert "--config and --set cannot change it" in capsys.readouterr().err
    cfg = load_config("synthetic", tiny_overrides + RUN + ["trainer.max_minutes=0.25",
                                                           "optim.lr=0.5"])
    with pytest.raises(ConfigError, match=r"differs at optim.lr"):
        train(cfg, reference_run, resume=True)


#: kills the training process at one named point of epoch 2 (index 1)
KILLER = textwrap.dedent("""
    import json, os, signal, sys
    from lightning.pytorch.callbacks import Callback
    import topogcn.engine.checkpoint as checkpoint
    import topogcn.utils.io as io
    from topogcn.engine import train
    from topogcn.engine.config import load_config

    point, out, overrides = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    state = {"epoch": 0}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    class Kill(Callback):
        def on_train_epoch_start(self, trainer, module):
            state["epoch"] = trainer.current_epoch

        def on_train_batch_end(self, trainer, module, outputs, batch, i):
            if point == "mid-epoch" and trainer.current_epoch == 1 and i == 1:
                die()

        def on_validation_batch_start(self, trainer, module, batch, i, dataloader_idx=0):
            if point == "validation" and trainer.current_epoch == 1:
                die()

    real_save, real_replace = checkpoint.torch.save, io.os.replace

    def save(obj, path, *a, **k):  # the checkpoint written, not yet renamed into place
        real_save(obj, path, *a, **k)
        if point == "checkpoint-write" and ".last.ckpt." in str(path) and state["epoch"] == 1:
            die()

    def replace(src, dst):
        real_replace(src, dst)
        if state["epoch"] == 1 and (
                point == "after-log-row" and dst.endswith("metrics.csv") or
                point == "after-last-ckpt" and dst.endswith("last.ckpt")):
            die()

    checkpoint.torch.save, io.os.replace = save, replace
    train(load_config("synthetic", overrides), out, callbacks=[Kill()])
    print("finished without being killed")
""")


@pytest.mark.parametrize("point", ["mid-epoch", "validation", "after-log-row",
                                   "checkpoint-write", "after-last-ckpt"])
def test_a_run_killed_anywhere_resumes_to_the_same_log(point, reference_run, tmp_path,
                                                       tiny_overrides):
    over = tiny_overrides + RUN + ["trainer.max_minutes=0.25"]
    out = str(tmp_path / "killed")
    p = subprocess.run([sys.executable, "-c", KILLER, point, out, json.dumps(over)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == -9, p.stdout + p.stderr  # SIGKILL
    assert not os.path.exists(os.path.join(out, "metrics.json"))
    train(load_config("synthetic", over), out, resume=True)
    assert log_text(out) == log_text(reference_run)
    assert results(out) == results(reference_run)
    assert same_weights(weights(out), weights(reference_run))
    leftovers = [n for d in ("", "checkpoints", "logs")
                 for n in os.listdir(os.path.join(out, d)) if n.endswith(".tmp")]
    assert leftovers == []
