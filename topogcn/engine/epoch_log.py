"""The run's epoch log (``logs/metrics.csv``) and its last checkpoint, written
in that order so that a run killed at any moment and resumed loses no row."""
from __future__ import annotations

import csv
import io
import math
import os
from typing import Any, Dict, List

from lightning.pytorch.callbacks import Callback

from topogcn.utils.io import atomic_write_text

#: the file name of the epoch log inside ``<run>/logs``
LOG_NAME = "metrics.csv"


def epoch_row(trainer) -> Dict[str, Any]:
    """The metrics of the epoch that just ended: ``epoch`` (counted from 1),
    ``step`` (optimisation steps so far), ``lr`` and every epoch-level
    metric the module logged (``train/loss``, ``train/top1``, ``val/top1``,
    ...; a metric logged per step and per epoch appears once, as its epoch
    mean)."""
    row: Dict[str, Any] = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step}
    if trainer.optimizers:
        row["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
    for key in sorted(trainer.callback_metrics):
        if key.endswith("_step"):
            continue
        name = key[:-len("_epoch")] if key.endswith("_epoch") else key
        row[name] = float(trainer.callback_metrics[key])
    return row


def _format(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def write_log(path: str, rows: List[Dict[str, Any]]) -> None:
    """Write ``rows`` as a CSV (columns in order of first appearance; floats
    with every digit, so two runs compare exactly), atomically."""
    header: List[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows({k: _format(v) for k, v in row.items()} for row in rows)
    atomic_write_text(path, buf.getvalue())


class EpochLog(Callback):
    """After every training epoch (validation included): the epoch's row is
    written to ``log_path`` (durable: written to a temporary file, synced,
    renamed), **then** the last checkpoint ``last_path`` is saved, which
    carries every row so far.  A run killed before the checkpoint resumes
    from the previous one and writes the row again; a resumed run rewrites
    the log from its checkpoint's rows, so the log always matches the
    checkpoint: the same rows, values and order as an uninterrupted run."""

    def __init__(self, log_path: str, last_path: str) -> None:
        self.log_path, self.last_path = log_path, last_path
        self.rows: List[Dict[str, Any]] = []

    def state_dict(self) -> Dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state["rows"]]

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:  # a resumed run: the rows of its checkpoint, no more
            write_log(self.log_path, self.rows)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.rows.append(epoch_row(trainer))
        if trainer.is_global_zero:
            write_log(self.log_path, self.rows)
        trainer.save_checkpoint(self.last_path, weights_only=False)


def read_log(path: str) -> List[Dict[str, str]]:
    """The rows of an epoch log (empty if there is none)."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
