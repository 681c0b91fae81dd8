"""The paper configs are the official InfoGCN recipe, item by item, and the
pieces of that recipe behave as the official code."""
import pytest
import torch

from topogcn.cli import main
from topogcn.engine.config import load_config
from topogcn.engine.task import WarmupSchedule, effective_lr
from topogcn.transforms import RandomCropResize


@pytest.mark.parametrize("name", ["paper-smg", "paper-imigue", "synthetic-paper"])
def test_paper_configs_item_by_item(name):
    cfg = load_config(name)
    d, o = cfg.data, cfg.optim
    assert cfg.model.kwargs["noise_ratio"] == 0.5
    assert effective_lr(o, d.batch_size) == 0.1 and d.batch_size == 32
    assert o.name == "sgd" and o.momentum == 0.9 and o.nesterov and o.weight_decay == 5e-4
    assert o.warmup_epochs == 5 and o.warmup_per == "epoch"
    assert o.schedule == "step" and o.milestones == [90, 100] and o.gamma == 0.1
    assert cfg.trainer.epochs == 110 and cfg.trainer.accelerator == "auto"
    assert cfg.trainer.precision == "16-mixed"  # the official --half
    assert d.frames == 64 and d.crop_scale == (0.5, 1.0) and d.crop_min_frames == 64
    assert d.test_crop == 0.95 and d.rotation == 0.3 and d.drop_last
    assert d.stream == "kmode" and d.k == 1
    assert d.center == "first_present" and d.center_person == "first"
    assert d.align == (["SpineBase", "SpineMid", "HipLeft", "HipRight"]
                       if name == "paper-smg" else None)
    assert d.third_channel == ("coordinate" if name == "paper-imigue" else "carried")
    assert not d.normalize_scale and d.num_workers > 0
    assert d.center_joint == ("SpineMid" if name != "paper-imigue" else None)
    # the one addition: synthetic-paper clips (the official recipe diverges there)
    assert cfg.trainer.gradient_clip_val == (1.0 if name == "synthetic-paper" else None)


def test_config_command_prints_the_resolved_recipe(capsys):
    assert main(["config", "paper-smg"]) == 0
    out = capsys.readouterr().out
    assert "effective learning rate 0.1 at batch 32" in out and "noise ratio 0.5" in out
    assert "accelerator: auto" in out and "stream: kmode" in out
    assert "center: first_present" in out and "- HipRight" in out
    assert main(["config", "synthetic", "--set", "data.batch_size=64"]) == 0
    assert "effective learning rate 0.008 at batch 64" in capsys.readouterr().out
    assert main(["config", "synthetic", "--set", "data.nope=1"]) == 2


def test_warmup_raised_per_epoch_as_the_reference():
    per_epoch = WarmupSchedule(5, "step", [90, 100], 0.1, 110, steps_per_epoch=10,
                               warmup_per="epoch")
    assert [per_epoch(s) for s in (0, 9, 10, 49, 50)] == [0.2, 0.2, 0.4, 1.0, 1.0]
    assert per_epoch(90 * 10) == pytest.approx(0.1) and per_epoch(100 * 10) == pytest.approx(0.01)
    per_step = WarmupSchedule(5, "step", [90], 0.1, 110, steps_per_epoch=10)
    assert per_step(0) == pytest.approx(0.02) and per_step(9) == pytest.approx(0.2)


def test_crop_floor_keeps_short_clips_whole():
    x = torch.arange(60.).view(1, 60, 1, 1).expand(1, 60, 2, 3)
    crop = RandomCropResize(64, scale=(0.5, 0.5), min_frames=64, seed=0)
    out = crop(x)  # 60 frames <= 64: not cropped, only resized
    torch.testing.assert_close(out[0, [0, -1], 0, 0], torch.tensor([0.0, 59.0]), atol=0.5,
                               rtol=0)
    long = torch.arange(200.).view(1, 200, 1, 1).expand(1, 200, 2, 3)
    kept = [RandomCropResize(64, scale=(0.5, 0.5), min_frames=64, seed=s)(long)
            for s in range(5)]
    # 64 samples of L frames (align_corners=False) span 63 * L / 64 frames
    lengths = {round(float(k[0, -1, 0, 0] - k[0, 0, 0, 0]) * 64 / 63) for k in kept}
    assert lengths == {100}  # floor(200 * 0.5) frames kept, whatever the offset
