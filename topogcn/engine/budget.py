"""How long a run trains: a step budget turned into epochs, extensions
decided by validation, and a wall-clock limit that stops a run without
reshaping it."""
from __future__ import annotations

import math
import statistics
import time
from typing import Any, Dict, List, Optional

from lightning.pytorch.callbacks import Callback

from topogcn.engine.config import DataConfig, TrainerConfig


def batches_per_epoch(num_clips: int, data: DataConfig, trainer: TrainerConfig,
                      world_size: int = 1) -> int:
    """Optimisation steps of one epoch over ``num_clips`` training clips
    (at most ``trainer.steps``: a step budget smaller than one epoch ends
    the epoch early)."""
    per_rank = -(-num_clips // max(1, world_size))
    if data.drop_last and per_rank > data.batch_size:
        n = per_rank // data.batch_size
    else:
        n = -(-per_rank // data.batch_size)
    limit = trainer.limit_train_batches
    if isinstance(limit, int):
        n = min(n, limit)
    elif isinstance(limit, float):
        n = max(1, int(n * limit))
    if trainer.steps is not None:
        n = min(n, trainer.steps)
    return max(1, n)


def plan_epochs(trainer: TrainerConfig, steps_per_epoch: int) -> int:
    """The epochs of a run: ``trainer.epochs``, or with a step budget
    ``ceil(trainer.steps / steps_per_epoch)``, at most ``trainer.epochs``
    (the step budget decides; ``trainer.epochs`` is its ceiling)."""
    if trainer.steps is None:
        return trainer.epochs
    return max(1, min(trainer.epochs, math.ceil(trainer.steps / max(1, steps_per_epoch))))


#: epochs whose median duration is the pace of a run
PACE_EPOCHS = 3
#: with ``fit_to_time``, the plan follows the pace when the epochs that fit
#: differ by this fraction
REPLAN_FRACTION = 0.1

#: why a run ended (``metrics.json["budget"]["stopped_by"]``)
STOPPED_BY = ("plan", "early_stopping", "time_limit")


class TrainingBudget(Callback):
    """The training budget while it runs.

    * **Plan**: ``planned_epochs``, fixed before training from the step
      budget and the size of the training set.
    * **Extensions** (``extensions``, ``extension_gain``): at the end of the
      plan, if the best validation top-1 of its last quarter is above the
      best before it by ``extension_gain`` or more (the model was still
      learning), the plan grows by half the first plan's epochs and the
      cosine schedule restarts at half its peak; at most ``extensions``
      times.  Decided by validation metrics only.
    * **Time limit** (``max_minutes``): a guard, not part of the recipe.  When
      the next epoch would end past the limit (at the median pace of the
      last :data:`PACE_EPOCHS` epochs), the run stops at this epoch boundary
      and says so (:attr:`stopped_by` is ``"time_limit"``); the schedule is
      never changed, so a run the limit does not stop depends only on its
      config, seed and data.
    * ``fit_to_time`` (opt-in): the plan is fitted to the time instead --
      cut after the first epoch to what fits at the measured pace, and cut
      or given back whenever the epochs that fit at the current pace differ
      from the plan by :data:`REPLAN_FRACTION` (the schedule is stretched
      over each new plan; extensions are capped by the time left).  The
      result then depends on how busy the machine is.

    The budget's state is part of the checkpoint, so a resumed run keeps it."""

    def __init__(self, planned_epochs: int, max_minutes: Optional[float] = None,
                 fit_to_time: bool = False, extensions: int = 0,
                 extension_gain: float = 0.05) -> None:
        self.max_seconds = None if max_minutes is None else 60.0 * max_minutes
        self.fit_to_time = fit_to_time
        self.planned = self.epochs = planned_epochs
        #: the plan without fit_to_time's cuts (the first plan and its extensions)
        self.uncut = planned_epochs
        #: durations of the last epochs (seconds)
        self.recent: List[float] = []
        self.max_extensions, self.extension_gain = extensions, extension_gain
        self.extended = 0
        self.cycle_start = 0
        self.elapsed, self.start = 0.0, 0.0
        #: what the budget did, for people (printed as it happens)
        self.notes: List[str] = []
        #: ``"time_limit"`` when the limit stopped the run, else None
        self.stopped_by: Optional[str] = None

    def state_dict(self) -> Dict[str, Any]:
        return {"epochs": self.epochs, "elapsed": self.elapsed, "extended": self.extended,
                "cycle_start": self.cycle_start, "notes": list(self.notes),
                "uncut": self.uncut, "recent": list(self.recent)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.epochs = int(state["epochs"])
        self.elapsed = float(state["elapsed"])
        self.extended = int(state["extended"])
        self.cycle_start = int(state["cycle_start"])
        self.notes = list(state["notes"])
        self.uncut = int(state["uncut"])
        self.recent = [float(t) for t in state["recent"]]

    def _say(self, text: str) -> None:
        self.notes.append(text)
        print(text, flush=True)

    def _apply(self, trainer, pl_module) -> None:
        trainer.fit_loop.max_epochs = self.epochs
        if getattr(pl_module, "schedule", None) is not None:
            pl_module.schedule.epochs = self.epochs

    def on_train_start(self, trainer, pl_module) -> None:
        self._apply(trainer, pl_module)
        self.start = time.monotonic()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # the time between two epoch ends: training, validation, checkpoints
        now = time.monotonic()
        took, self.start = now - self.start, now
        self.elapsed += took
        self.recent = (self.recent + [took])[-PACE_EPOCHS:]
        done = trainer.current_epoch + 1
        if done == self.epochs and self.extended < self.max_extensions:
            self._maybe_extend(trainer, pl_module, done)
        if self.max_seconds is None or done >= self.epochs:
            return
        if self.fit_to_time:
            self._follow_pace(trainer, pl_module, done)
        elif self.elapsed + self._pace() > self.max_seconds:
            self._stop(trainer, done)

    def _pace(self) -> float:
        return max(statistics.median(self.recent), 1e-6)

    def _stop(self, trainer, done: int) -> None:
        self.stopped_by = "time_limit"
        self._say(f"stopped by the {self.max_seconds / 60:g}-minute limit after {done} of "
                  f"{self.epochs} planned epochs: not the recipe's result")
        trainer.should_stop = True

    def _follow_pace(self, trainer, pl_module, done: int) -> None:
        """fit_to_time: fits the plan to the time left at the current pace,
        or stops the run when the next epoch does not fit."""
        pace = self._pace()
        fit = min(self.uncut, done + int((self.max_seconds - self.elapsed) // pace))
        if done == 1:  # the first measure: the plan shrinks to what fits (at least this epoch)
            fit = max(1, fit)
            if fit < self.epochs:
                self._replan(trainer, pl_module, fit,
                             f"{fit} epochs of {self.recent[-1]:.1f} s fit in "
                             f"{self.max_seconds / 60:g} min; plan cut")
            return
        if fit <= done:
            self._stop(trainer, done)
        elif abs(fit - self.epochs) >= max(2, REPLAN_FRACTION * self.epochs):
            self._replan(trainer, pl_module, fit, f"epochs now take {pace:.1f} s; plan "
                         f"{'cut' if fit < self.epochs else 'raised'}")

    def _replan(self, trainer, pl_module, epochs: int, why: str) -> None:
        self._say(f"fit_to_time: {why} from {self.epochs} to {epochs} epochs")
        self.epochs = epochs
        self._apply(trainer, pl_module)

    def _maybe_extend(self, trainer, pl_module, done: int) -> None:
        history = [(e, s) for e, s in getattr(pl_module, "val_history", [])
                   if e >= self.cycle_start]
        if len(history) < 4:
            return
        quarter = max(1, round(0.25 * (done - self.cycle_start)))
        recent = [s for e, s in history if e >= done - quarter]
        before = [s for e, s in history if e < done - quarter]
        if not recent or not before:
            return
        gain = max(recent) - max(before)
        if gain < self.extension_gain:
            return
        more = -(-self.planned // 2)
        if self.fit_to_time and self.max_seconds is not None:
            more = min(more, int((self.max_seconds - self.elapsed) // self._pace()))
        if more < 2:
            return
        self.extended += 1
        self.cycle_start = done
        self.epochs = self.uncut = done + more
        if getattr(pl_module, "schedule", None) is not None:
            pl_module.schedule.restart(done, 0.5)
        self._apply(trainer, pl_module)
        self._say(f"budget: validation top-1 still rose {100 * gain:.1f} points over the last "
                  f"{quarter} epochs; {more} more epochs (extension {self.extended} of "
                  f"{self.max_extensions}, learning rate restarted at half its peak)")
