"""How long a run trains: a step budget turned into epochs, a wall-time
budget that shortens the plan, and the report of what happened."""
from __future__ import annotations

import math
import statistics
import time
from typing import Any, Dict, List, Optional

from lightning.pytorch.callbacks import Callback

from topogcn.engine.config import DataConfig, TrainerConfig


def batches_per_epoch(num_clips: int, data: DataConfig, trainer: TrainerConfig,
                      world_size: int = 1) -> int:
    """Optimisation steps of one epoch over ``num_clips`` training clips."""
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
    return max(1, n)


def plan_epochs(trainer: TrainerConfig, steps_per_epoch: int) -> int:
    """The epochs of a run: ``trainer.epochs``, or with a step budget
    ``ceil(trainer.steps / steps_per_epoch)`` capped at ``trainer.epochs``."""
    if trainer.steps is None:
        return trainer.epochs
    return max(1, min(trainer.epochs, math.ceil(trainer.steps / max(1, steps_per_epoch))))


#: epochs whose median duration is the pace of a run
PACE_EPOCHS = 3
#: the plan follows the pace when the epochs that fit differ by this fraction
REPLAN_FRACTION = 0.1


class TimeBudget(Callback):
    """The training budget while it runs.

    * **Wall time** (``max_minutes``): after the first epoch, the plan is cut
      to the epochs that fit at the measured pace (the learning-rate
      schedule is stretched over the new plan, so it still ends annealed).
      After every later epoch the pace is measured again (the median of the
      last :data:`PACE_EPOCHS` epochs, so one slow epoch -- a busy machine,
      the start-up of the first -- does not decide the run): when the epochs
      that fit differ from the plan by :data:`REPLAN_FRACTION` of it or more
      (at least two), the plan is cut, or given back up to the epochs it had
      before any cut, and the schedule is stretched over it again.  An
      epoch that would end past the budget is not started.
    * **Extensions** (``extensions``, ``extension_gain``): at the end of the
      plan, if the best validation top-1 of its last quarter is above the
      best before it by ``extension_gain`` or more (the model was still
      learning), the plan grows by half the first plan's epochs (as many as
      fit in the time left; at least two) and the cosine schedule restarts
      at half its peak; at most ``extensions`` times.

    The plan is part of the checkpoint, so a resumed run keeps it."""

    def __init__(self, max_minutes: Optional[float], planned_epochs: int,
                 extensions: int = 0, extension_gain: float = 0.05) -> None:
        self.max_seconds = None if max_minutes is None else 60.0 * max_minutes
        self.planned = self.epochs = planned_epochs
        #: the plan without the wall-time cuts (the first plan and its extensions)
        self.uncut = planned_epochs
        #: durations of the last epochs (seconds)
        self.recent: List[float] = []
        self.max_extensions, self.extension_gain = extensions, extension_gain
        self.extended = 0
        self.cycle_start = 0
        self.elapsed, self.start = 0.0, 0.0
        #: what the budget did, for people (printed as it happens)
        self.notes: List[str] = []
        self.stopped = False

    @property
    def note(self) -> Optional[str]:
        """The last of :attr:`notes` (None if the budget changed nothing)."""
        return self.notes[-1] if self.notes else None

    def state_dict(self) -> Dict[str, Any]:
        return {"epochs": self.epochs, "elapsed": self.elapsed, "extended": self.extended,
                "cycle_start": self.cycle_start, "notes": list(self.notes),
                "uncut": self.uncut, "recent": list(self.recent)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.epochs = int(state.get("epochs", self.epochs))
        self.elapsed = float(state.get("elapsed", 0.0))
        self.extended = int(state.get("extended", 0))
        self.cycle_start = int(state.get("cycle_start", 0))
        self.notes = list(state.get("notes", []))
        self.uncut = int(state.get("uncut", max(self.uncut, self.epochs)))
        self.recent = [float(t) for t in state.get("recent", [])]

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
        if self.max_seconds is not None and done < self.epochs:
            if not self._follow_pace(trainer, pl_module, done):
                return
        if done == self.epochs and self.extended < self.max_extensions:
            self._maybe_extend(trainer, pl_module, done)

    def _follow_pace(self, trainer, pl_module, done: int) -> bool:
        """Fits the plan to the time left at the current pace; False when
        the next epoch does not fit (the run stops)."""
        pace = max(statistics.median(self.recent), 1e-6)
        left = self.max_seconds - self.elapsed
        fit = min(self.uncut, done + int(left // pace))
        if done == 1:  # the first measure: the plan shrinks to what fits (at least this epoch)
            fit = max(1, fit)
            if fit < self.epochs:
                self._replan(trainer, pl_module, fit,
                             f"{fit} epochs of {self.recent[-1]:.1f} s fit in "
                             f"{self.max_seconds / 60:g} min; plan cut")
            return True
        if fit <= done:
            self._say(f"time budget: stopped after {done} of {self.epochs} epochs "
                      f"({self.elapsed:.0f} s of {self.max_seconds:.0f} s)")
            self.stopped = True
            trainer.should_stop = True
            return False
        if abs(fit - self.epochs) >= max(2, REPLAN_FRACTION * self.epochs):
            self._replan(trainer, pl_module, fit, f"epochs now take {pace:.1f} s; plan "
                         f"{'cut' if fit < self.epochs else 'raised'}")
        return True

    def _replan(self, trainer, pl_module, epochs: int, why: str) -> None:
        self._say(f"time budget: {why} from {self.epochs} to {epochs} epochs")
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
        if self.max_seconds is not None:
            # at the pace the plan follows (one slow last epoch does not decide)
            pace = max(statistics.median(self.recent), 1e-6)
            more = min(more, int((self.max_seconds - self.elapsed) // pace))
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
