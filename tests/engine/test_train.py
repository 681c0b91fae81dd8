import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from topogcn.cli import main as cli_main
from topogcn.engine import CheckpointError, NonFiniteLossError, evaluate, load_run, predict, train
from topogcn.engine.config import ConfigError, load_config
from topogcn.engine.inference import ensemble

TOPOGCN = os.path.join(os.path.dirname(sys.executable), "topogcn")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from tests.engine.conftest import TINY
    out = str(tmp_path_factory.mktemp("runs") / "tiny")
    result = train(load_config("synthetic", TINY), out)
    return out, result.metrics


def test_run_folder_contents(finished_run):
    out, m = finished_run
    for name in ("config.yaml", "metrics.json", "scores.npz", "checkpoints/best.ckpt",
                 "checkpoints/last.ckpt", "logs/metrics.csv"):
        assert os.path.isfile(os.path.join(out, name)), name
    saved = json.load(open(os.path.join(out, "metrics.json")))
    assert saved["top1"] == m["top1"] and 0 <= m["top1"] <= m["top5"] <= 1
    cm = np.array(saved["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == saved["num_test"] == 6
    assert abs(np.trace(cm) / cm.sum() - saved["top1"]) < 1e-6
    assert set(saved["per_class_accuracy"]) == set(saved["classes"])
    support = cm.sum(1)
    expect = [cm[k, k] / support[k] if support[k] else None for k in range(3)]
    assert list(saved["per_class_accuracy"].values()) == pytest.approx(expect)
    assert saved["mean_class_accuracy"] == pytest.approx(
        np.mean([a for a in expect if a is not None]))
    assert saved["epoch"] == 2 and saved["wall_time_s"] > 0
    scores = np.load(os.path.join(out, "scores.npz"))
    assert scores["scores"].shape == (6, 3)
    assert np.allclose(scores["scores"].sum(1), 1, atol=1e-5)


def test_same_seed_same_metrics(finished_run, tmp_path, tiny_cfg):
    out, m = finished_run
    again = train(tiny_cfg, str(tmp_path / "again")).metrics
    assert again["top1"] == m["top1"] and again["confusion_matrix"] == m["confusion_matrix"]
    a = torch.load(os.path.join(out, "checkpoints", "last.ckpt"), weights_only=True)
    b = torch.load(str(tmp_path / "again" / "checkpoints" / "last.ckpt"), weights_only=True)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


def test_eval_predict_and_ensemble(finished_run, tmp_path):
    out, m = finished_run
    ckpt = os.path.join(out, "checkpoints", "best.ckpt")
    res = evaluate(ckpt, out=str(tmp_path / "ev"))
    assert res["top1"] == pytest.approx(m["top1"]) and res["num_test"] == 6
    run = load_run(ckpt)
    assert not run.model.training and run.spec.num_classes == 3
    assert run.spec.channels == ("x", "y", "z") and run.spec.frames == 8
    np.save(tmp_path / "clip.npy", np.random.rand(20, 25, 3).astype(np.float32))
    res = predict(ckpt, str(tmp_path / "clip.npy"))
    probs = [t["probability"] for t in res["top"]]
    assert len(res["probabilities"]) == 3 and abs(sum(res["probabilities"]) - 1) < 1e-5
    assert probs == sorted(probs, reverse=True) and res["classes"] == run.classes
    fused = ensemble([out, str(tmp_path / "ev")])
    assert fused["fused"]["top1"] == pytest.approx(m["top1"])
    with pytest.raises(ConfigError, match="has no scores.npz"):
        ensemble([str(tmp_path)])


def test_refuses_to_overwrite_a_run(finished_run):
    out, _ = finished_run
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        train(load_config("synthetic"), out)


def test_corrupt_checkpoint_is_named(tmp_path, finished_run):
    out, _ = finished_run
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(open(os.path.join(out, "checkpoints", "best.ckpt"), "rb").read()[:200])
    with pytest.raises(CheckpointError, match="bad.ckpt' cannot be read: it is truncated"):
        load_run(str(bad))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_run(str(tmp_path / "none.ckpt"))


def test_nan_loss_stops_with_epoch_and_step_and_keeps_checkpoint(tmp_path, tiny_overrides):
    # no validation split: every loss call is a training batch
    cfg = load_config("synthetic", tiny_overrides + ["trainer.epochs=3", "data.val_subjects=null"])
    out = str(tmp_path / "nan")
    import topogcn.models.losses as losses
    real = losses.LatentMMDLoss.forward
    calls = {"n": 0}

    def poisoned(self, logits, z, y):
        calls["n"] += 1
        terms = real(self, logits, z, y)
        if calls["n"] == 6:  # epoch 1 (3 batches per epoch), batch 2
            return terms._replace(loss=terms.loss * float("nan"))
        return terms

    losses.LatentMMDLoss.forward = poisoned
    try:
        with pytest.raises(NonFiniteLossError, match=r"diverged at epoch 2, step 5: the training "
                                                     r"loss is nan \(batch 2\)"):
            train(cfg, out)
    finally:
        losses.LatentMMDLoss.forward = real
    ck = torch.load(os.path.join(out, "checkpoints", "last.ckpt"), weights_only=True)
    assert ck["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in ck["state_dict"].values()
               if v.is_floating_point())


def test_cli_train_and_errors(tmp_path, tiny_overrides, capsys):
    args = ["train", "--out", str(tmp_path / "cli")]
    for o in tiny_overrides + ["trainer.epochs=1"]:
        args += ["--set", o]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "test top-1" in out and "run folder" in out
    assert cli_main(["train", "--set", "optim.lrr=1"]) == 2
    assert "unknown key 'optim.lrr'; did you mean 'optim.lr'" in capsys.readouterr().err
    assert cli_main(["skeletons"]) == 0
    assert "openpose137" in capsys.readouterr().out


def _cli(args, **kw):
    return subprocess.Popen([TOPOGCN] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kw)


@pytest.mark.skipif(not os.path.exists(TOPOGCN), reason="the topogcn console script is needed")
def test_ddp_two_cpu_processes_agree(tmp_path, tiny_overrides):
    out = str(tmp_path / "ddp")
    sets = []
    for o in tiny_overrides + ["trainer.devices=2", "trainer.strategy=ddp",
                               "trainer.epochs=1"]:
        sets += ["--set", o]
    env = dict(os.environ, MASTER_PORT=str(29500 + os.getpid() % 1000))
    p = _cli(["train", "--out", out] + sets, env=env)
    log = p.communicate(timeout=600)[0]
    assert p.returncode == 0, log
    r0 = json.load(open(os.path.join(out, "metrics.rank0.json")))
    r1 = json.load(open(os.path.join(out, "metrics.rank1.json")))
    assert r0["top1"] == r1["top1"] and r0["top5"] == r1["top5"]
    assert r0["confusion_matrix"] == r1["confusion_matrix"]
    # every test clip counted once, not once per process
    assert np.array(r0["confusion_matrix"]).sum() == r0["num_test"]


def test_last_checkpoint_is_the_last_epoch_with_validation(tmp_path, tiny_overrides):
    from topogcn.engine.config import load_config
    cfg = load_config("synthetic", tiny_overrides + [
        "trainer.epochs=3", "data.val_subjects=1",
        "data.options={num_subjects: 5, test_subjects: 1, gestures_per_class: 2, "
        "num_classes: 3}"])
    out = str(tmp_path / "run")
    train(cfg, out)
    last = torch.load(os.path.join(out, "checkpoints", "last.ckpt"), weights_only=True)
    best = torch.load(os.path.join(out, "checkpoints", "best.ckpt"), weights_only=True)
    assert last["epoch"] == 2 and best["epoch"] <= 2


def test_eval_out_never_overwrites_the_training_results(finished_run, capsys):
    out, m = finished_run
    before = open(os.path.join(out, "metrics.json")).read()
    ckpt = os.path.join(out, "checkpoints", "best.ckpt")
    assert cli_main(["eval", "--checkpoint", ckpt, "--out", out,
                     "--set", "trainer.progress_bar=false"]) == 0
    assert os.path.join(out, "eval-test") in capsys.readouterr().out
    assert open(os.path.join(out, "metrics.json")).read() == before
    assert os.path.isfile(os.path.join(out, "eval-test", "metrics.json"))


@pytest.mark.skipif(not os.path.exists(TOPOGCN), reason="the topogcn console script is needed")
def test_cli_prints_an_epoch_line_and_no_library_chatter(tmp_path, tiny_overrides):
    sets = []
    for o in tiny_overrides + ["data.val_subjects=1"]:
        sets += ["--set", o]
    p = subprocess.run([TOPOGCN, "train", "--out", str(tmp_path / "r")] + sets,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    lines = [line for line in p.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and "train loss" in lines[0] and "val top-1" in lines[1]
    for chatter in ("Tip:", "GPU available", "deprecated", "logging interval", "litlogger"):
        assert chatter not in p.stdout + p.stderr, chatter


@pytest.mark.parametrize("overrides", [["trainer.precision=bf16-mixed"],
                                       ["trainer.compile=true"]])
def test_bf16_mixed_and_compiled_runs_train_save_and_reload(tmp_path, tiny_overrides, overrides):
    """bfloat16 mixed precision and a compiled model run end to end: test
    scores saved in float32, the checkpoint loads into an uncompiled model
    and predicts what the run tested."""
    from topogcn.engine import Run

    cfg = load_config("synthetic", tiny_overrides + ["trainer.epochs=1",
                                                     "trainer.baselines=false"] + overrides)
    out = str(tmp_path / "run")
    metrics = train(cfg, out).metrics
    scores = np.load(os.path.join(out, "scores.npz"))
    assert scores["scores"].dtype == np.float32 and 0 <= metrics["top1"] <= 1
    run = Run.load(os.path.join(out, "checkpoints", "best.ckpt"))
    clip = run.dataset("test")[0][0]  # preprocessed, as tested
    with torch.inference_mode():
        probs = torch.softmax(run.model.eval()(clip.unsqueeze(0)), dim=-1)[0]
    tol = 0.05 if "bf16" in overrides[0] else 1e-4  # bf16 test scores vs float32 here
    assert np.abs(probs.numpy() - scores["scores"][0]).max() < tol


def test_keep_freed_memory_is_applied_before_training_and_noted_where_unavailable(
        tmp_path, tiny_overrides, capsys, monkeypatch):
    import topogcn.engine.training as run_module

    calls = []
    monkeypatch.setattr(run_module, "keep_freed_memory", lambda: calls.append(1) or False)
    cfg = load_config("synthetic", tiny_overrides + ["trainer.epochs=1", "trainer.baselines=false",
                                                     "trainer.keep_freed_memory=true"])
    train(cfg, str(tmp_path / "kept"))
    assert calls == [1]
    assert "trainer.keep_freed_memory: needs glibc's allocator; not applied" in \
        capsys.readouterr().out
    train(load_config("synthetic", tiny_overrides + ["trainer.epochs=1",
                                                     "trainer.baselines=false"]),
          str(tmp_path / "default"))
    assert calls == [1]  # off by default
    with pytest.raises(ConfigError, match="keep_freed_memory"):
        load_config("synthetic", ["trainer.keep_freed_memory=3"])


def test_accurate_batch_norm_is_set_for_the_run_and_restored(tmp_path, tiny_overrides,
                                                            monkeypatch):
    from lightning.pytorch.callbacks import Callback

    import topogcn.nn.norm as norm
    from topogcn.nn.functional import TUNING

    seen, calls = [], []
    accurate = norm._AccurateBatchNorm.apply
    monkeypatch.setattr(norm._AccurateBatchNorm, "apply",
                        lambda *a: calls.append(1) or accurate(*a))

    class Probe(Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            seen.append(TUNING.accurate_batch_norm)

    base = tiny_overrides + ["trainer.epochs=1", "trainer.baselines=false"]
    train(load_config("synthetic", base + ["trainer.accurate_batch_norm=true"]),
          str(tmp_path / "accurate"), callbacks=[Probe()])
    assert seen and all(seen) and calls  # the compact model's batch norms took the path
    assert TUNING.accurate_batch_norm is False  # restored after the run
    seen.clear(), calls.clear()
    train(load_config("synthetic", base), str(tmp_path / "default"), callbacks=[Probe()])
    assert seen and not any(seen) and not calls  # off by default


def test_diverged_latent_stops_the_run_where_the_reference_turns_nan(tiny_cfg):
    from topogcn.engine import ClassificationTask
    from topogcn.models import GECN

    model = GECN(num_classes=3, skeleton="ntu25", num_person=1, channels=[8], strides=[1],
                 noise_ratio=0.5)
    module = ClassificationTask(model, tiny_cfg.loss, tiny_cfg.optim, 1, 8)
    assert module._latent_overflow(torch.tensor([[-500.0, 170.0]])) is None  # exp(85) is finite
    problem = module._latent_overflow(torch.tensor([[1.0, 400.0]]))
    assert problem == "the latent log-variance reached 400 (its noise scale exp(0.5 x 400) " \
        "overflows float32)"
    with pytest.raises(NonFiniteLossError,
                       match=r"diverged at epoch 1, step 0: the latent log-variance reached 400 "
                             r"\(its noise scale exp\(0.5 x 400\) overflows float32\).*"
                             r"gradient_clip_val"):
        module._diverged(problem, skip=True)  # no loss scaler: the run stops
    model.noise_ratio = 0.0  # no noise: nothing to overflow
    assert module._latent_overflow(torch.tensor([[1.0, 400.0]])) is None


def test_class_accuracies_skip_classes_without_test_clips():
    from topogcn.engine.training import class_accuracies
    per_class, mean = class_accuracies([[3, 1, 0], [0, 0, 0], [2, 0, 2]])
    assert per_class == [0.75, None, 0.5] and mean == pytest.approx(0.625)
    assert class_accuracies([[0, 0], [0, 0]]) == ([None, None], None)


def test_more_loader_workers_than_cpus_are_capped(monkeypatch):
    from topogcn.engine import data
    monkeypatch.setattr(data.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert data.loader_workers(4) == 2 and data.loader_workers(1) == 1
    assert data.loader_workers(0) == 0
