"""The LightningDataModule over :mod:`topogcn.datasets`."""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, List, Optional, Tuple

import numpy as np

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from topogcn.datasets import SkeletonDataset, SpottingWindows, create_dataset
from topogcn.engine.config import MAX_SEED, ConfigError, DataConfig
from topogcn.transforms import (
    InputSpec, InputSpecError, Preprocess, RandomCropResize, RandomMirror, RandomRotation,
    RandomScale,
)


def open_dataset(cfg: DataConfig, split: str, seed: int = 0) -> SkeletonDataset:
    """The dataset ``cfg.name`` (any registered one) for ``split``, without
    preprocessing; as spotting windows when ``cfg.window`` is set.  A
    fractional ``cfg.val_subjects`` is drawn with ``seed`` (see
    :func:`validation_subjects`)."""
    if isinstance(cfg.val_subjects, float):  # the test split does not need it drawn
        cfg = validation_subjects(cfg, seed)[0] if split != "test" else \
            dataclasses.replace(cfg, val_subjects=None)
    root = os.path.expanduser(cfg.root) if cfg.root else None
    options = dict(cfg.options)
    skeleton = cfg.skeleton
    if "skeleton" in options:  # data.options.skeleton is the same as data.skeleton
        if skeleton:
            raise ConfigError("data.skeleton and data.options.skeleton are both set; keep one")
        skeleton = options.pop("skeleton")
    for key in ("frames", "val_subjects", "split", "root"):
        if key in options:
            raise ConfigError(f"data.options.{key}: set data.{key} instead"
                              if key != "split" else "data.options.split: the split is chosen "
                              "by the command (train, val, test)")
    try:
        ds = create_dataset(cfg.name, split, root, skeleton=skeleton, frames=cfg.frames,
                            val_subjects=cfg.val_subjects, **options)
    except ValueError as e:
        if type(e) is not ValueError:  # DatasetFormatError and the like name their file
            raise
        raise ConfigError(f"data: {e}") from None
    if cfg.window:
        ds = SpottingWindows(ds, cfg.window, cfg.window_stride, cfg.window_iou,
                             cfg.background_ratio, seed=0, background_iou=cfg.background_iou)
    if len(ds) == 0:
        where = f" in {cfg.root}" if cfg.root else ""
        raise ConfigError(f"the {split!r} split of data.name={cfg.name}{where} has no clip: "
                          f"check the split definition (subjects, a 'split' column) and the "
                          f"label table")
    return ds


def input_spec_for(cfg: DataConfig, dataset: SkeletonDataset) -> InputSpec:
    """The input contract of a model trained on ``dataset`` with the data
    recipe ``cfg``: the dataset's skeleton, channels, classes and persons;
    the recipe's frames, centring, scale normalisation and stream."""
    skeleton = dataset.skeleton
    center_joint = None
    if cfg.center_joint is not None:
        try:
            center_joint = skeleton.index(cfg.center_joint)
        except (ValueError, IndexError, KeyError) as e:
            raise ConfigError(f"data.center_joint: {e}") from None
    align = None
    if cfg.align is not None:
        try:
            align = tuple(skeleton.index(j) for j in cfg.align)
        except (ValueError, IndexError, KeyError) as e:
            raise ConfigError(f"data.align: {e}") from None
    try:
        return InputSpec(skeleton=skeleton, channels=tuple(dataset.channels),
                         classes=tuple(dataset.classes),
                         persons=cfg.persons or dataset.num_person,
                         frames=cfg.frames, center=cfg.center,
                         normalize_scale=cfg.normalize_scale, stream=cfg.stream,
                         center_joint=center_joint, center_person=cfg.center_person,
                         test_crop=cfg.test_crop, k=cfg.k, align=align,
                         third_channel=cfg.third_channel)
    except InputSpecError as e:
        raise ConfigError(f"data: {e}") from None


def check_matches(spec: InputSpec, dataset: SkeletonDataset, what: str = "the data") -> None:
    """Raise :class:`ConfigError` unless ``dataset`` gives what ``spec``
    expects (skeleton, channels, the class names in their order)."""
    problems = dataset.skeleton.differences(spec.skeleton)
    if problems:
        raise ConfigError(f"{what} is on skeleton '{dataset.skeleton.name}', the model on "
                          f"'{spec.skeleton.name}': {'; '.join(problems)}")
    if tuple(dataset.channels) != spec.channels:
        raise ConfigError(f"{what} has channels ({', '.join(dataset.channels)}), the model "
                          f"expects ({', '.join(spec.channels)})")
    if len(dataset.classes) != spec.num_classes:
        raise ConfigError(f"{what} has {len(dataset.classes)} classes, the model "
                          f"{spec.num_classes}")
    if tuple(dataset.classes) != tuple(spec.classes):
        k = next(i for i, (a, b) in enumerate(zip(dataset.classes, spec.classes)) if a != b)
        raise ConfigError(f"{what} names its classes in another order than the model: class "
                          f"{k} is {dataset.classes[k]!r} in the data, {spec.classes[k]!r} for "
                          f"the model (labels would be scored against the wrong names)")


def uses_mirroring(cfg: DataConfig, spec: InputSpec,
                   dataset: Optional[SkeletonDataset] = None) -> bool:
    """Whether the recipe mirrors training clips: ``data.mirror`` true, or
    ``auto`` and the skeleton declares its mirror pairs and the dataset's
    classes do not depend on the side (``dataset.side_specific_classes``)."""
    if not cfg.augment or cfg.mirror is False:
        return False
    if cfg.mirror is True:
        if spec.skeleton.mirror is None:
            raise ConfigError(f"data.mirror: skeleton '{spec.skeleton.name}' declares no "
                              f"mirror pairs (a 'mirror' list of (left, right) joints in its "
                              f"file; [] for a skeleton without pairs, e.g. one hand)")
        return True
    return spec.skeleton.mirror is not None and \
        not getattr(dataset, "side_specific_classes", False)


def augmentations(cfg: DataConfig, spec: InputSpec, dataset: Optional[SkeletonDataset] = None
                  ) -> Tuple[Optional[Callable], List[Callable]]:
    """The recipe's training augmentation around the spec's normalisation:
    the temporal one (a random crop-and-resize to the spec's frames, in
    place of its test-time resampling) and the spatial ones, in this order:
    left/right mirroring (:func:`uses_mirroring`), a random scale per axis
    and a rotation, all of the coordinate channels only."""
    if not cfg.augment:
        return None, []
    temporal = RandomCropResize(spec.frames, scale=tuple(cfg.crop_scale),
                                min_frames=cfg.crop_min_frames)
    spatial: List[Callable] = []
    if uses_mirroring(cfg, spec, dataset):
        spatial.append(RandomMirror(spec.skeleton))
    if cfg.scale > 0:
        spatial.append(RandomScale(cfg.scale, dims=spec.coordinate_dims))
    if cfg.rotation > 0:
        spatial.append(RandomRotation(cfg.rotation, dims=spec.coordinate_dims,
                                      axes=cfg.rotation_axes))
    return temporal, spatial


def build_dataset(cfg: DataConfig, split: str, train: bool = False,
                  spec: Optional[InputSpec] = None, seed: int = 0) -> SkeletonDataset:
    """The dataset of ``cfg`` for ``split`` with the preprocessing of
    ``spec`` (default: the spec of this data and recipe, see
    :func:`input_spec_for`), plus the recipe's augmentation when ``train``.
    ``dataset.transform.spec`` is the spec used; ``seed`` draws a fractional
    validation split."""
    ds = open_dataset(cfg, split, seed)
    if spec is None:
        spec = input_spec_for(cfg, ds)
    else:
        check_matches(spec, ds, f"the {split!r} split of data.name={cfg.name}")
    pre = Preprocess(spec)
    ds.transform = pre.with_augmentation(*augmentations(cfg, spec, ds)) if train else pre
    ds.transform.spec = spec
    return ds


def validation_subjects(cfg: DataConfig, seed: int) -> Tuple[DataConfig, Optional[str]]:
    """Resolve a fractional ``data.val_subjects`` (0.2: a fifth of the
    training subjects, at least one) into subject ids drawn with ``seed``.
    Returns the data config with the ids (unchanged for a count, ids or
    none) and a line for people saying what was held out (none when there is
    nothing to say).  A training split with a single subject has no
    validation split: the last epoch is then tested."""
    frac = cfg.val_subjects
    if not isinstance(frac, float):
        return cfg, None
    plain = dataclasses.replace(cfg, val_subjects=None, window=None)
    subjects = sorted(set(open_dataset(plain, "train").subjects))
    if len(subjects) < 2:
        return (dataclasses.replace(cfg, val_subjects=None),
                f"validation: none (the training split has {len(subjects)} subject; the last "
                f"epoch is tested)")
    n = min(len(subjects) - 1, max(1, int(round(frac * len(subjects)))))
    rng = np.random.default_rng([seed, 17])
    ids = sorted(subjects[i] for i in rng.choice(len(subjects), n, replace=False))
    return (dataclasses.replace(cfg, val_subjects=ids),
            f"validation: {n} of {len(subjects)} training subjects held out "
            f"(data.val_subjects={frac:g}, seed {seed}): {', '.join(map(str, ids))}")


def epoch_seed(seed: int, epoch: int, item: Optional[int] = None) -> int:
    """The seed of epoch ``epoch`` (and of its item ``item``) of a run seeded
    with ``seed``, in ``0 .. 2^32 - 1`` for any seed and epoch."""
    value = seed * 100_003 + epoch
    if item is not None:
        value = value * 1_000_003 + item
    return value % (MAX_SEED + 1)


def loader_workers(requested: int) -> int:
    """``data.num_workers``, at most the CPUs this process may use (more
    workers than CPUs only slow loading down; the clips and their
    augmentation do not depend on the worker count)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return min(requested, cpus)


def class_balance_weights(labels: torch.Tensor, num_classes: int, mode: str) -> torch.Tensor:
    r"""Per-class weights from the class frequencies :math:`n_c` of
    ``labels``: :math:`n_c^{-1}` (``"inverse"``) or :math:`n_c^{-1/2}`
    (``"sqrt"``, the square-root re-weighting of long-tailed recognition),
    scaled so that the mean weight over the clips is 1 (a class without
    clips counts as one clip); ``"none"``: all ones."""
    if mode == "none":
        return torch.ones(num_classes)
    counts = torch.bincount(labels.long(), minlength=num_classes).double().clamp(min=1)
    weights = counts.pow({"inverse": -1.0, "sqrt": -0.5}[mode])
    return (weights * len(labels) / (weights[labels.long()].sum())).float()


class EpochShuffleSampler(Sampler):
    """A random order drawn from ``(seed, epoch)`` only (Lightning calls
    :meth:`set_epoch`), sharded over ``world_size`` processes (padded to equal
    shares).  It yields ``epoch * N + index`` so that :class:`EpochSeededItems`
    knows the epoch of every item, in any worker process.  With ``weights``
    (one per item) an epoch is ``N`` draws with replacement in proportion to
    them (class-balanced sampling) instead of a permutation."""

    def __init__(self, num_samples: int, seed: int, rank: int = 0, world_size: int = 1,
                 weights: Optional[torch.Tensor] = None) -> None:
        self.num_samples, self.seed, self.epoch = num_samples, seed, 0
        self.rank, self.world_size = rank, world_size
        self.weights = None if weights is None else weights.double()
        self.generator = torch.Generator()  # also the DataLoader's: no global draw

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.generator.manual_seed(epoch_seed(self.seed, epoch))

    def __iter__(self):
        g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        if self.weights is None:
            order = torch.randperm(self.num_samples, generator=g).tolist()
        else:
            order = torch.multinomial(self.weights, self.num_samples, replacement=True,
                                      generator=g).tolist()
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
            torch.manual_seed(epoch_seed(self.seed, epoch, i))
            return self.dataset[i]


class SkeletonDataModule(L.LightningDataModule):
    """Train / validation / test loaders of one dataset configuration.

    The validation split exists when ``data.val_subjects`` is set (or the
    dataset defines one, like the MiGA release of iMiGUE); with
    ``data.val_on_test`` the test split is validated every epoch (the
    official code's protocol, which reports the best test epoch)."""

    def __init__(self, cfg: DataConfig, seed: int = 0, spec: Optional[InputSpec] = None) -> None:
        super().__init__()
        self.cfg, self.seed = cfg, seed
        #: what the validation split is, for people (a fractional
        #: ``val_subjects`` is resolved into ids at setup)
        self.val_note: Optional[str] = None
        #: the input contract: given (a trained model's), or that of the training data
        self.spec = spec
        self.train_set: Optional[SkeletonDataset] = None
        self.val_set: Optional[SkeletonDataset] = None
        self.test_set: Optional[SkeletonDataset] = None

    def setup(self, stage: Optional[str] = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            self.cfg, self.val_note = validation_subjects(self.cfg, self.seed)
            self.train_set = build_dataset(self.cfg, "train", train=True, spec=self.spec)
            self.spec = self.train_set.transform.spec
            if self.cfg.val_subjects is not None:
                self.val_set = build_dataset(self.cfg, "val", spec=self.spec)
        if stage in (None, "fit", "test", "predict") and self.test_set is None:
            self.test_set = build_dataset(self.cfg, "test", spec=self.spec)
            self.spec = self.test_set.transform.spec
        if stage in (None, "fit") and self.cfg.val_on_test:
            if self.cfg.val_subjects is not None:
                raise ConfigError("data.val_on_test and data.val_subjects exclude each other")
            self.val_set = self.test_set

    def _loader(self, ds, shuffle: bool, batch_size: int) -> DataLoader:
        sampler, generator = None, None
        if shuffle:
            trainer = getattr(self, "trainer", None)
            rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
            weights = None
            if self.cfg.class_sampling != "uniform":
                labels = ds.labels
                weights = class_balance_weights(labels, ds.num_classes,
                                                self.cfg.class_sampling)[labels.long()]
            sampler = EpochShuffleSampler(len(ds), self.seed, rank, world, weights)
            generator = sampler.generator
            ds = EpochSeededItems(ds, self.seed)
        workers = loader_workers(self.cfg.num_workers)
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, generator=generator,
                          num_workers=workers,
                          drop_last=shuffle and self.cfg.drop_last and len(ds) > batch_size,
                          persistent_workers=workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True, self.cfg.batch_size)

    def val_dataloader(self):
        if self.val_set is None:
            return []
        return self._loader(self.val_set, False, self.cfg.eval_batch_size or self.cfg.batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False, self.cfg.eval_batch_size or self.cfg.batch_size)
