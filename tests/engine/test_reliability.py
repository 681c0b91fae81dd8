"""Faults and bad input lose nothing and explain themselves (issue: run-folder
locks, valid values, clear messages instead of tracebacks)."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from topogcn.cli import main
from topogcn.engine import train
from topogcn.engine.config import ConfigError, load_config
from topogcn.utils.lock import FolderInUseError, folder_lock


def test_a_second_run_into_a_folder_in_use_is_refused(tmp_path, tiny_overrides, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from topogcn.utils.lock import folder_lock
            with folder_lock({str(out)!r}):
                print("locked", flush=True)
                time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        (out / "keep.txt").write_text("the other run's file")
        cfg = load_config("synthetic", tiny_overrides)
        with pytest.raises(FolderInUseError, match=rf"in use by another topogcn run \(pid "
                                                   rf"{holder.pid}\)"):
            train(cfg, str(out), overwrite=True)
        assert main(["train", "--out", str(out), "--overwrite", "--set"] + tiny_overrides) == 2
        assert "in use by another topogcn run" in capsys.readouterr().err
        assert (out / "keep.txt").read_text() == "the other run's file"
        assert not (out / "checkpoints").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: no stale lock
    with folder_lock(str(out)):
        pass


@pytest.mark.parametrize("override, message", [
    ("data.batch_size=-4", "'data.batch_size' must be a positive number, got -4"),
    ("trainer.epochs=-1", "'trainer.epochs' must be a positive number, got -1"),
    ("trainer.epochs=0", "'trainer.epochs' must be a positive number, got 0"),
    ("seed=4294967296", "'seed' must be between 0 and 2^32 - 1"),
    ("optim.lr=-1e-3", "'optim.lr' must be at least 0.0, got -0.001"),
])
def test_values_no_run_can_use_are_named(override, message, capsys, tmp_path):
    with pytest.raises(ConfigError, match=message.replace("^", "\\^").replace("(", "\\(")):
        load_config("synthetic", [override])
    assert main(["train", "--out", str(tmp_path / "r"), "--set", override]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_yaml_1_2_numbers_and_large_seeds(tmp_path, tiny_overrides):
    cfg = load_config("synthetic", ["optim.lr=1e-3", "optim.weight_decay=5E-4"])
    assert cfg.optim.lr == 0.001 and cfg.optim.weight_decay == 0.0005
    path = tmp_path / "c.yaml"
    path.write_text("base: synthetic\noptim:\n  lr: 2e-3\n")
    assert load_config(str(path)).optim.lr == 0.002
    big = load_config("synthetic", tiny_overrides + ["seed=4294967295", "trainer.epochs=1"])
    assert 0 <= train(big, str(tmp_path / "big")).metrics["top1"] <= 1  # no overflow


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
@pytest.mark.parametrize("override", ["trainer.accelerator=gpu", "trainer.devices=0"])
def test_trainer_misconfiguration_is_a_message(override, tiny_overrides, tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--set"] + tiny_overrides +
                [override]) == 2
    err = capsys.readouterr().err
    assert "topogcn train: error: trainer (accelerator=" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()
