"""The LightningDataModule over :mod:`topogcn.datasets`."""
from __future__ import annotations

import os
from typing import Callable, List, Optional

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from topogcn.datasets import IMiGUE, SMG, SkeletonDataset, SyntheticMicroGestures
from topogcn.engine.config import ConfigError, DataConfig
from topogcn.skeleton import get_skeleton
from topogcn.transforms import (
    CenterJoint, Compose, NormalizeScale, RandomCropResize, RandomRotation, stream_transform,
)

DATASETS = ("synthetic", "smg", "imigue", "folder")


def coordinate_dims(cfg: DataConfig) -> int:
    """How many channels are coordinates: 2 for OpenPose data (x, y,
    confidence), 3 otherwise."""
    return 2 if cfg.name == "imigue" else int(cfg.options.get("coordinate_dims", 3))


def build_transform(cfg: DataConfig, skeleton, train: bool) -> Optional[Callable]:
    """Centring, scale normalisation, (training) crop-and-resize and
    rotation, then the input stream; ``frames`` is applied by the dataset."""
    dims = coordinate_dims(cfg)
    steps: List[Callable] = []
    if cfg.center not in ("first_frame", "per_frame", "none"):
        raise ConfigError(f"data.center must be first_frame, per_frame or none, got "
                          f"{cfg.center!r}")
    if cfg.center != "none":
        steps.append(CenterJoint(skeleton, per_frame=cfg.center == "per_frame", dims=dims))
    if cfg.normalize_scale:
        steps.append(NormalizeScale(skeleton, dims=dims))
    if train and cfg.augment:
        steps.append(RandomCropResize(cfg.frames, scale=tuple(cfg.crop_scale)))
        if cfg.rotation > 0:
            steps.append(RandomRotation(cfg.rotation, dims=dims))
    stream = stream_transform(cfg.stream, skeleton, dims if dims == 2 else None)
    if stream is not None:
        steps.append(stream)
    return Compose(steps) if steps else None


def build_dataset(cfg: DataConfig, split: str, train: bool = False) -> SkeletonDataset:
    """The dataset of ``cfg`` for ``split``, with the recipe's transforms."""
    if cfg.name not in DATASETS:
        raise ConfigError(f"data.name must be one of {DATASETS}, got {cfg.name!r}")
    opts = dict(cfg.options)
    opts.pop("coordinate_dims", None)
    common = dict(frames=cfg.frames, val_subjects=cfg.val_subjects, **opts)
    if cfg.name != "synthetic" and not cfg.root:
        raise ConfigError(f"data.root is required for data.name={cfg.name}: the folder of the "
                          f"dataset (see the docs page 'Datasets')")
    root = os.path.expanduser(cfg.root) if cfg.root else None
    try:
        if cfg.name == "synthetic":
            common.setdefault("seed", 0)
            skeleton = cfg.skeleton or common.pop("skeleton", "ntu25")
            ds = SyntheticMicroGestures(split, skeleton=get_skeleton(skeleton), **common)
        elif cfg.name == "smg":
            ds = SMG(root, split, **common)
        elif cfg.name == "imigue":
            ds = IMiGUE(root, split, skeleton=cfg.skeleton, **common)
        else:
            from topogcn.datasets.folder import SkeletonFolder

            if not cfg.skeleton:
                raise ConfigError("data.skeleton is required for data.name=folder (a registry "
                                  "name or a JSON/YAML skeleton file)")
            ds = SkeletonFolder(root, get_skeleton(cfg.skeleton), split, **common)
    except TypeError as e:
        raise ConfigError(f"data.options: {e}") from None
    ds.transform = build_transform(cfg, ds.skeleton, train)
    if cfg.window:
        from topogcn.spotting import SpottingWindows

        ds = SpottingWindows(ds, cfg.window, cfg.window_stride, cfg.window_iou,
                             cfg.background_ratio, seed=0, background_iou=cfg.background_iou)
    if len(ds) == 0:
        where = f" in {cfg.root}" if cfg.root else ""
        raise ConfigError(f"the {split!r} split of data.name={cfg.name}{where} has no clip: "
                          f"check the split definition (subjects, a 'split' column) and the "
                          f"label table")
    return ds


class EpochShuffleSampler(Sampler):
    """A random order drawn from ``(seed, epoch)`` only (Lightning calls
    :meth:`set_epoch`), sharded over ``world_size`` processes (padded to equal
    shares).  It yields ``epoch * N + index`` so that :class:`EpochSeededItems`
    knows the epoch of every item, in any worker process."""

    def __init__(self, num_samples: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.num_samples, self.seed, self.epoch = num_samples, seed, 0
        self.rank, self.world_size = rank, world_size
        self.generator = torch.Generator()  # also the DataLoader's: no global draw

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.generator.manual_seed(self.seed * 100_003 + epoch)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.num_samples, generator=g).tolist()
        per_rank = -(-self.num_samples // self.world_size)
        order = (order * self.world_size)[:per_rank * self.world_size]
        offset = self.epoch * self.num_samples
        return iter([offset + i for i in order[self.rank::self.world_size]])

    def __len__(self) -> int:
        return -(-self.num_samples // self.world_size)


class EpochSeededItems(torch.utils.data.Dataset):
    """Wraps a training set: item ``epoch * N + i`` is clip ``i`` with its
    random augmentation drawn from ``(seed, epoch, i)``.  Augmentations are
    thus reproducible whatever the worker count, and a resumed run draws the
    same ones as an uninterrupted run."""

    def __init__(self, dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        epoch, i = divmod(int(index), len(self.dataset))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed((self.seed * 100_003 + epoch) * 1_000_003 + i)
            return self.dataset[i]


class SkeletonDataModule(L.LightningDataModule):
    """Train / validation / test loaders of one dataset configuration.

    The validation split exists when ``data.val_subjects`` is set (or the
    dataset defines one, like the MiGA release of iMiGUE)."""

    def __init__(self, cfg: DataConfig, seed: int = 0) -> None:
        super().__init__()
        self.cfg, self.seed = cfg, seed
        self.train_set: Optional[SkeletonDataset] = None
        self.val_set: Optional[SkeletonDataset] = None
        self.test_set: Optional[SkeletonDataset] = None

    def setup(self, stage: Optional[str] = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = build_dataset(self.cfg, "train", train=True)
            if self.cfg.val_subjects is not None:
                self.val_set = build_dataset(self.cfg, "val")
        if stage in (None, "fit", "test", "predict") and self.test_set is None:
            self.test_set = build_dataset(self.cfg, "test")

    def _loader(self, ds, shuffle: bool, batch_size: int) -> DataLoader:
        sampler, generator = None, None
        if shuffle:
            trainer = getattr(self, "trainer", None)
            rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
            sampler = EpochShuffleSampler(len(ds), self.seed, rank, world)
            generator = sampler.generator
            ds = EpochSeededItems(ds, self.seed)
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, generator=generator,
                          num_workers=self.cfg.num_workers, drop_last=False,
                          persistent_workers=self.cfg.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True, self.cfg.batch_size)

    def val_dataloader(self):
        if self.val_set is None:
            return []
        return self._loader(self.val_set, False, self.cfg.eval_batch_size or self.cfg.batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False, self.cfg.eval_batch_size or self.cfg.batch_size)

    @property
    def info(self) -> dict:
        """num_classes, classes, skeleton, num_person, in_channels of the data."""
        ds = self.train_set or self.test_set
        return {"num_classes": ds.num_classes, "classes": list(ds.classes),
                "skeleton": ds.skeleton, "num_person": ds.num_person,
                "in_channels": ds.num_channels}
