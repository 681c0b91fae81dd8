"""The training budget (steps, wall time, early stopping), the validation
split, and the baselines every run reports."""
import json
import os

import pytest
import torch

from topogcn.engine import train
from topogcn.engine.baselines import linear_baseline
from topogcn.engine.budget import batches_per_epoch, plan_epochs
from topogcn.engine.config import ConfigError, load_config
from topogcn.engine.data import SkeletonDataModule, uses_mirroring, validation_subjects
from topogcn.engine.task import ClassificationTask
from topogcn.transforms import RandomMirror, RandomScale


def test_step_budget_becomes_epochs():
    cfg = load_config("synthetic", ["trainer.steps=100", "trainer.epochs=50"])
    assert batches_per_epoch(700, cfg.data, cfg.trainer) == 22
    assert plan_epochs(cfg.trainer, 22) == 5  # ceil(100 / 22)
    assert plan_epochs(cfg.trainer, 1) == 50  # capped at trainer.epochs
    cfg = load_config("synthetic", ["trainer.steps=100", "data.drop_last=true"])
    assert batches_per_epoch(700, cfg.data, cfg.trainer) == 21
    cfg = load_config("synthetic", ["trainer.epochs=7"])
    assert plan_epochs(cfg.trainer, 3) == 7  # no step budget: the epochs
    cfg = load_config("synthetic", ["trainer.steps=5"])  # below one epoch: the epoch ends early
    assert batches_per_epoch(700, cfg.data, cfg.trainer) == 5
    assert plan_epochs(cfg.trainer, 5) == 1
    for bad in ("trainer.steps=0", "trainer.max_minutes=0", "trainer.early_stopping=0",
                "data.val_subjects=1.5", "data.mirror=maybe", "data.scale=1.0"):
        with pytest.raises(ConfigError):
            load_config("synthetic", [bad])


def test_fractional_validation_split_is_seeded_and_by_subject(tiny_overrides):
    over = [o for o in tiny_overrides if not o.startswith("data.options")]
    over.append("data.options={num_subjects: 12, test_subjects: 2, gestures_per_class: 1, "
                "num_classes: 3}")
    cfg = load_config("synthetic", over + ["data.val_subjects=0.25"])
    a, note = validation_subjects(cfg.data, seed=0)
    b, _ = validation_subjects(cfg.data, seed=0)
    c, _ = validation_subjects(cfg.data, seed=1)
    assert a.val_subjects == b.val_subjects and len(a.val_subjects) == 2  # round(0.25 x 10)
    assert set(a.val_subjects) <= set(range(1, 11)) and a.val_subjects != c.val_subjects
    assert "2 of 10 training subjects" in note and "seed 0" in note
    dm = SkeletonDataModule(cfg.data, seed=0)
    dm.setup("fit")
    assert set(dm.val_set.subjects) == set(a.val_subjects)
    assert not set(dm.val_set.subjects) & set(dm.train_set.subjects)
    # a count or ids are kept as they are
    assert validation_subjects(load_config("synthetic", ["data.val_subjects=2"]).data, 0)[1] \
        is None


def test_step_budget_below_an_epoch_and_early_stopping(tmp_path, tiny_overrides, capsys):
    over = tiny_overrides + ["trainer.epochs=40", "trainer.steps=2", "data.val_subjects=1",
                             "trainer.baselines=false"]
    m = train(load_config("synthetic", over), str(tmp_path / "s")).metrics
    assert m["epoch"] == 1 and m["budget"]["steps_per_epoch"] == 2
    ck = torch.load(str(tmp_path / "s" / "checkpoints" / "last.ckpt"), weights_only=True)
    assert ck["global_step"] == 2  # 2 of the epoch's 3 batches
    assert "budget: 2 steps = 1 epoch of 2 batches" in capsys.readouterr().out
    over = tiny_overrides + ["trainer.epochs=40", "data.val_subjects=1",
                             "trainer.early_stopping=1", "optim.lr=0.0"]
    m = train(load_config("synthetic", over), str(tmp_path / "e")).metrics
    # with lr 0 only the batch-norm statistics move: progress stops soon
    assert m["budget"]["stopped_by"] == "early_stopping" and m["epoch"] < 40
    # epochs are counted from 1: the best is the one before the last
    assert m["budget"]["best_epoch"] == m["epoch"] - 1 and m["checkpoint"] == "best"
    saved = json.load(open(os.path.join(tmp_path, "e", "metrics.json")))
    assert saved["baselines"]["chance"] == pytest.approx(1 / 3)
    assert 0 <= saved["baselines"]["linear"] <= 1 and saved["num_val"] > 0
    rows = open(os.path.join(tmp_path, "e", "logs", "metrics.csv")).read().splitlines()
    assert rows[1].startswith("1,") and len(rows) == m["epoch"] + 1


def test_best_validation_epoch_breaks_ties_by_loss():
    from topogcn.engine.task import SELECTION_TIE_BREAK
    # one more correct clip in 10,000 outweighs any cross-entropy difference
    assert SELECTION_TIE_BREAK * 5 < 1e-4
    module = ClassificationTask.__new__(ClassificationTask)
    module.val_history = [(0, 0.9 - 1e-5), (1, 1.0 - 2e-5), (2, 1.0 - 1e-5), (3, 1.0 - 1e-5)]
    assert ClassificationTask.best_val_epoch(module) == 2


def test_linear_baseline_is_honest():
    class Clips(torch.utils.data.Dataset):
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return self.x[i], int(self.y[i])

    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 4
    centres = torch.randn(4, 1, 4, 3, 2, generator=g) * 3
    x = centres[y] + torch.randn(200, 1, 4, 3, 2, generator=g)
    easy = linear_baseline(Clips(x[:150], y[:150]), Clips(x[150:], y[150:]), 4)
    assert easy["linear"] > 0.9 and easy["chance"] == 0.25 and easy["linear_clips"] == 150
    noise = torch.randn(200, 1, 4, 3, 2, generator=g)  # labels unrelated to the clips
    hard = linear_baseline(Clips(noise[:150], y[:150]), Clips(noise[150:], y[150:]), 4)
    assert hard["linear"] < 0.5


def test_mirroring_is_automatic_where_it_keeps_labels(tiny_cfg):
    from topogcn.datasets import SyntheticHandGestures
    from topogcn.engine.data import build_dataset
    cfg = load_config("synthetic", ["data.augment=true", "data.mirror=auto", "data.scale=0.1"])
    ntu = build_dataset(cfg.data, "test")
    # the default synthetic classes are side-specific: no automatic mirroring
    assert not uses_mirroring(cfg.data, ntu.transform.spec, ntu)
    hands = SyntheticHandGestures("test", num_subjects=3, test_subjects=1,
                                  gestures_per_class=1)
    hcfg = load_config("synthetic", ["data.name=synthetic-hands", "data.augment=true",
                                     "data.mirror=auto", "data.scale=0.1"])
    spec = build_dataset(hcfg.data, "test").transform.spec
    assert uses_mirroring(hcfg.data, spec, hands)
    train_set = build_dataset(hcfg.data, "train", train=True)
    kinds = [type(t).__name__ for t in train_set.transform.transforms]
    assert "RandomMirror" in kinds and "RandomScale" in kinds
    assert kinds.index("RandomMirror") < kinds.index("RandomScale")


def test_random_scale_leaves_confidence_alone():
    x = torch.rand(1, 5, 4, 3)
    out = RandomScale(0.2, dims=2, seed=0)(x)
    assert torch.equal(out[..., 2], x[..., 2])
    ratio = out[..., :2] / x[..., :2]
    assert torch.allclose(ratio, ratio[0, 0, 0], atol=1e-5)  # one factor per axis
    assert ((ratio >= 0.8) & (ratio <= 1.2)).all() and not torch.allclose(ratio, torch.ones(2))
    assert isinstance(RandomMirror("hand21"), RandomMirror)


def _fake(epoch, history, epochs):
    from types import SimpleNamespace

    from topogcn.engine.task import WarmupSchedule
    trainer = SimpleNamespace(current_epoch=epoch, fit_loop=SimpleNamespace(max_epochs=epochs),
                              should_stop=False)
    module = SimpleNamespace(val_history=history,
                             schedule=WarmupSchedule(1, "cosine", [], 0.1, epochs, 10))
    return trainer, module


def test_budget_extends_while_validation_still_rises(capsys):
    from topogcn.engine.budget import TrainingBudget

    rising = [(e, 0.3 + 0.03 * e) for e in range(12)]  # +9 points over the last quarter
    budget = TrainingBudget(12, None, extensions=2, extension_gain=0.02)
    trainer, module = _fake(11, rising, 12)
    budget.on_train_start(trainer, module)
    budget.on_train_epoch_end(trainer, module)
    assert budget.extended == 1 and budget.epochs == 18 and trainer.fit_loop.max_epochs == 18
    assert "6 more epochs" in capsys.readouterr().out
    sched = module.schedule
    assert sched.epochs == 18 and sched(12 * 10) == pytest.approx(0.5)  # restarted at half
    assert sched(18 * 10) == pytest.approx(0.0, abs=1e-9) and sched(11 * 10) < 0.05
    # flat at the end of the extension: no second one
    flat = rising + [(e, 0.7) for e in range(12, 18)]
    trainer.current_epoch, module.val_history = 17, flat
    budget.on_train_epoch_end(trainer, module)
    assert budget.extended == 1 and budget.epochs == 18
    # a plateau from the start: never extended
    budget = TrainingBudget(12, None, extensions=2)
    trainer, module = _fake(11, [(e, 0.9) for e in range(12)], 12)
    budget.on_train_start(trainer, module)
    budget.on_train_epoch_end(trainer, module)
    assert budget.extended == 0 and trainer.fit_loop.max_epochs == 12
    # no time left for two more epochs: extended all the same (the time
    # limit does not decide the plan); only fit_to_time caps the extension
    for fit, extended in ((False, 1), (True, 0)):
        budget = TrainingBudget(12, 0.01, fit_to_time=fit, extensions=2)
        trainer, module = _fake(11, rising, 12)
        budget.on_train_start(trainer, module)
        import time
        budget.elapsed, budget.start = 0.2, time.monotonic() - 0.3  # epochs of 0.3 s
        budget.on_train_epoch_end(trainer, module)
        assert budget.extended == extended
        if not fit:  # the extension's next epoch would end past the 0.6 s: the guard stops
            assert budget.stopped_by == "time_limit" and trainer.should_stop
    state = TrainingBudget(12, None).state_dict()
    assert {"epochs", "extended", "cycle_start"} <= set(state)


def test_budget_extension_counts_epochs_at_the_median_pace(capsys):
    from topogcn.engine.budget import TrainingBudget

    rising = [(e, 0.3 + 0.03 * e) for e in range(12)]
    budget = TrainingBudget(12, 1, fit_to_time=True, extensions=1, extension_gain=0.02)  # 60 s
    trainer, module = _fake(0, rising, 12)
    budget.on_train_start(trainer, module)
    for _ in range(11):
        _epoch(budget, trainer, module, 2.0)
    # a last epoch of 10 s (a busy moment) after eleven of 2 s: 28 s left is
    # 14 epochs at the pace (6 granted), 2 at the last epoch's duration
    _epoch(budget, trainer, module, 10.0)
    assert budget.extended == 1 and budget.epochs == 18
    assert "6 more epochs" in capsys.readouterr().out


def _epoch(budget, trainer, module, seconds):
    """One epoch end after an epoch of ``seconds``."""
    import time
    budget.start = time.monotonic() - seconds
    budget.on_train_epoch_end(trainer, module)
    trainer.current_epoch += 1


def test_time_budget_follows_the_pace_after_a_slow_first_epoch(capsys):
    from topogcn.engine.budget import TrainingBudget

    budget = TrainingBudget(31, 10, fit_to_time=True)  # 600 s for 31 planned epochs
    trainer, module = _fake(0, [], 31)
    budget.on_train_start(trainer, module)
    _epoch(budget, trainer, module, 110.0)  # a busy machine: 5 epochs of 110 s fit
    assert budget.epochs == 5 and trainer.fit_loop.max_epochs == 5
    assert module.schedule.epochs == 5
    _epoch(budget, trainer, module, 4.0)  # median of 110 and 4: 57 s, 8 more fit
    assert budget.epochs == 10
    _epoch(budget, trainer, module, 4.0)  # median 4 s: the whole plan fits again
    assert budget.epochs == 31 and trainer.fit_loop.max_epochs == 31
    assert module.schedule.epochs == 31 and not budget.stopped_by
    assert "plan raised from 10 to 31 epochs" in capsys.readouterr().out
    for _ in range(27):  # steady epochs: the plan stays
        _epoch(budget, trainer, module, 4.0)
    assert budget.epochs == 31 and not budget.stopped_by and len(budget.notes) == 3
    # resumed from a checkpoint, the budget keeps its pace and its uncut plan
    again = TrainingBudget(31, 10, fit_to_time=True)
    again.load_state_dict(budget.state_dict())
    assert again.uncut == 31 and again.recent == pytest.approx([4.0, 4.0, 4.0], abs=0.1)


def test_time_budget_cuts_the_plan_when_epochs_slow_down(capsys):
    from topogcn.engine.budget import TrainingBudget

    budget = TrainingBudget(20, 1, fit_to_time=True)  # 60 s
    trainer, module = _fake(0, [], 20)
    budget.on_train_start(trainer, module)
    for _ in range(3):
        _epoch(budget, trainer, module, 2.0)
    assert budget.epochs == 20  # 6 s used, 27 more epochs would fit
    for _ in range(2):
        _epoch(budget, trainer, module, 5.0)  # median 5 s: 8 more fit in the 44 s left
    assert budget.epochs == 13 and module.schedule.epochs == 13
    assert "plan cut from 20 to 13 epochs" in capsys.readouterr().out
    _epoch(budget, trainer, module, 30.0)  # median still 5 s: 2 more fit in 14 s
    assert budget.epochs == 8 and not budget.stopped_by
    # the next epoch would end past the budget: not started
    _epoch(budget, trainer, module, 30.0)
    assert budget.stopped_by == "time_limit" and trainer.should_stop and budget.epochs == 8


def test_the_time_limit_stops_but_never_replans(capsys):
    from topogcn.engine.budget import TrainingBudget

    budget = TrainingBudget(20, 1)  # 60 s, the default: a guard
    trainer, module = _fake(0, [], 20)
    budget.on_train_start(trainer, module)
    _epoch(budget, trainer, module, 20.0)  # a busy start: the plan stays
    assert budget.epochs == 20 and module.schedule.epochs == 20 and not trainer.should_stop
    for _ in range(3):
        _epoch(budget, trainer, module, 2.0)
    assert budget.epochs == 20 and not budget.notes
    while not trainer.should_stop:  # 26 s used, then epochs of 4 s
        _epoch(budget, trainer, module, 4.0)
    # 58 s used after 12 epochs: the 13th would end past 60 s, it is not started
    assert budget.stopped_by == "time_limit" and trainer.current_epoch == 12
    assert budget.epochs == 20 and module.schedule.epochs == 20
    assert "stopped by the 1-minute limit after 12 of 20 planned epochs: not the recipe's " \
           "result" in capsys.readouterr().out
