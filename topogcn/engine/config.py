"""Typed run configuration, read from YAML with dotted overrides.

A configuration is a tree of dataclasses; a YAML file gives any subset of it
and ``--set section.key=value`` overrides single values.  Every field
declares what it accepts where it is defined: its type, a closed set of
values (``Literal``) and its bounds (:func:`setting`).  A value is checked
whenever it is set -- from YAML, ``--set`` or Python -- so a configuration
that exists is valid; unknown keys, wrong types, values outside a set
(with "did you mean") and values out of bounds are a :class:`ConfigError`
naming the dotted key.  Packaged configurations (``topogcn/configs/*.yaml``)
can be named instead of a path: ``--config paper-smg``.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, List, Literal, Mapping, Optional, Sequence, \
    Tuple, Union

import yaml

from topogcn.io.limits import MAX_FRAMES, MAX_PERSONS
from topogcn.transforms.input_spec import (
    CENTER_MODES, CENTER_PERSONS, STREAMS, THIRD_CHANNEL_MODES,
)

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))),
                          "configs")


#: a configuration file larger than this is not one
MAX_CONFIG_BYTES = 1 << 20


class ConfigError(ValueError):
    """A configuration key or value that is not valid."""


class _Loader(yaml.SafeLoader):
    """YAML with YAML 1.2's numbers (``1e-3`` is a float; PyYAML's YAML 1.1
    rules read it as text), refusing a key given twice in one mapping and
    aliases (``*name``: a configuration needs none, and nested aliases can
    expand a small file into gigabytes)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not accepted in a topogcn configuration", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool, type(None))):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"a key must be a name, not {type(key).__name__}", key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"the key {key!r} is given twice (first {seen[key]})", key_node.start_mark)
            seen[key] = str(key_node.start_mark).strip()
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def load_yaml(text_or_stream: Any) -> Any:
    """:func:`yaml.safe_load` with YAML 1.2 numbers (``1e-3`` is a float)."""
    return yaml.load(text_or_stream, Loader=_Loader)


def setting(default: Any = dataclasses.MISSING, *, factory: Optional[Callable[[], Any]] = None,
            min: Optional[float] = None, max: Optional[float] = None,
            above: Optional[float] = None, below: Optional[float] = None,
            check: Optional[Callable[[Any], Optional[str]]] = None) -> Any:
    """A configuration field with its bounds, checked whenever it is set:
    ``min``/``max`` inclusive, ``above``/``below`` exclusive; ``check(value)``
    returns what is wrong (or None) for rules bounds cannot say."""
    meta = {k: v for k, v in (("min", min), ("max", max), ("above", above), ("below", below),
                              ("check", check)) if v is not None}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _axes(value: str) -> Optional[str]:
    if not value or set(value) - set("xyz"):
        return f"must be letters of xyz, got {value!r}"
    return None


def _fraction_or_count(value: Any) -> Optional[str]:
    if isinstance(value, float) and not 0 < value < 1:
        return (f"as a fraction must be between 0 and 1, got {value} (a whole number is a "
                f"count of subjects)")
    if isinstance(value, int) and value < 1:
        return f"as a count must be at least 1, got {value}"
    return None


def _speed_range(value: Any) -> Optional[str]:
    if not 0.25 <= value[0] <= value[1] <= 4:
        return f"must be [slowest, fastest] with 0.25 <= slowest <= fastest <= 4, got {value}"
    return None


def _positive_list(value: Any) -> Optional[str]:
    if not value or any(v < 1 or v > 10_000 for v in value):
        return f"must be a non-empty list of whole numbers from 1 to 10000, got {value}"
    return None


def _odd_widths(value: Any) -> Optional[str]:
    problem = _positive_list(value)
    if problem is None and any(v % 2 == 0 for v in value):
        return f"must be odd widths (centred moving averages), got {value}"
    return problem


#: seeds of topogcn's runs: 0 .. 2^32 - 1 (what ``seed_everything`` takes)
MAX_SEED = 2 ** 32 - 1
#: the largest batch (beyond it a typo, not a batch)
MAX_BATCH = 65_536
#: CPU threads per process, at most
MAX_THREADS = 1024


class _Section:
    """A configuration section: every assignment is checked against the
    field's declaration (type, ``Literal`` choices, :func:`setting` bounds)."""

    #: the dotted prefix of this section's keys (``"data."``)
    _prefix: ClassVar[str] = ""

    def __setattr__(self, name: str, value: Any) -> None:
        fields = self.__dataclass_fields__  # type: ignore[attr-defined]
        key = self._prefix + name
        if name not in fields:
            raise ConfigError(_unknown_key(key))
        t = _hints(type(self))[name]
        if dataclasses.is_dataclass(t):
            if not isinstance(value, t):
                raise ConfigError(f"'{key}' must be a mapping of "
                                  f"{', '.join(_valid_keys(t, key + '.'))}")
        else:
            value = _coerce(value, t, key)
            _check_bounds(value, fields[name].metadata, key)
        object.__setattr__(self, name, value)


@dataclass
class DataConfig(_Section):
    _prefix: ClassVar[str] = "data."
    #: a registered dataset (:func:`topogcn.datasets.list_datasets`): ``synthetic``,
    #: ``smg``, ``imigue``, ``folder``, ...
    name: str = "synthetic"
    #: dataset folder (not used by ``synthetic``)
    root: Optional[str] = None
    #: skeleton override: registry name or JSON/YAML file (a folder with a
    #: ``skeleton.json`` needs none)
    skeleton: Optional[str] = None
    #: frames per clip after resampling
    frames: int = setting(64, min=1, max=MAX_FRAMES)
    batch_size: int = setting(32, min=1, max=MAX_BATCH)
    #: batch size at evaluation (default: batch_size)
    eval_batch_size: Optional[int] = setting(None, min=1, max=MAX_BATCH)
    num_workers: int = setting(0, min=0, max=MAX_THREADS)
    #: input stream (after resampling)
    stream: Literal[STREAMS] = "joint"  # type: ignore[valid-type]
    #: training subjects held out for validation: a fraction (0.2: a fifth of
    #: them, drawn with the run's seed), a count (the last n) or their ids;
    #: none: no validation (the last epoch is tested)
    val_subjects: Optional[Union[int, float, List[int]]] = setting(None, check=_fraction_or_count)
    #: validate on the test split, so that best.ckpt is the best test epoch: the
    #: official code's protocol (optimistic; not for model selection)
    val_on_test: bool = False
    #: k of the ``kmode`` stream, :math:`(I - A^k) X` (the reference trains on k = 1)
    k: int = setting(1, min=1, max=1000)
    #: centring (see :class:`~topogcn.transforms.InputSpec`)
    center: Literal[CENTER_MODES] = "first_frame"  # type: ignore[valid-type]
    #: the joint to centre on and root of the bone/kmode tree (name or index;
    #: default: the skeleton's centre)
    center_joint: Optional[Union[int, str]] = None
    #: persons per clip given to the model (cut, or padded with zeros);
    #: none: the dataset's (the official NTU data pad every clip to 2)
    persons: Optional[int] = setting(None, min=1, max=MAX_PERSONS)
    #: centre ``each`` person on its own joint, or all on the ``first`` person's
    center_person: Literal[CENTER_PERSONS] = "each"  # type: ignore[valid-type]
    #: view alignment after centring, as the reference's NTU data: four joints
    #: (names or indices: spine base, spine, left hip, right hip) whose
    #: first-frame directions turn each person's clip (spine along z, hips
    #: along x); none: not aligned. 3-D data only
    align: Optional[List[Union[int, str]]] = setting(
        None, check=lambda v: None if len(v) == 4 else
        f"must be 4 joints (spine base, spine, left hip, right hip), got {list(v)}")
    #: 2-D data with a third channel (x, y, confidence): carry it unchanged, or
    #: treat it as a pseudo-depth ``coordinate`` (centred, rotated in 3-D,
    #: differenced), as the reference's code treats any third channel
    third_channel: Literal[THIRD_CHANNEL_MODES] = "carried"  # type: ignore[valid-type]
    #: divide by the mean bone length
    normalize_scale: bool = True
    #: the order of training clips: a ``uniform`` shuffle, or draws with
    #: replacement at rates :math:`n_c^{-1}` (``inverse``: class-balanced) or
    #: :math:`n_c^{-1/2}` (``sqrt``) of the clip's class frequency, for
    #: long-tailed data
    class_sampling: Literal["uniform", "inverse", "sqrt"] = "uniform"
    #: training augmentation: random crop-and-resize and rotation
    augment: bool = True
    crop_scale: Tuple[float, float] = setting(
        (0.5, 1.0), check=lambda v: None if 0 < v[0] <= v[1] <= 1 else
        f"must be two fractions 0 < low <= high <= 1, got {list(v)}")
    #: the training crop never keeps fewer frames than this (the reference: 64)
    crop_min_frames: Optional[int] = setting(None, min=1, max=MAX_FRAMES)
    #: fraction of a test clip kept (centred) before resampling (the reference: 0.95)
    test_crop: float = setting(1.0, above=0, max=1)
    #: drop the last incomplete training batch (the reference does)
    drop_last: bool = False
    #: maximum rotation in radians (0.3 in the reference)
    rotation: float = setting(0.3, min=0.0, max=math.pi)
    #: axes of the rotation of 3D data: ``xyz`` (the reference) or ``y`` (about
    #: the vertical only); 2D data turns in the image plane
    rotation_axes: str = setting("xyz", check=_axes)
    #: random scale of each coordinate axis in [1 - scale, 1 + scale] (0: none)
    scale: float = setting(0.0, min=0.0, below=1)
    #: left/right mirroring (half the clips) through the skeleton's mirror
    #: pairs: true, false, or auto (on when the skeleton declares its pairs
    #: and the dataset's classes do not depend on the side)
    mirror: Union[bool, Literal["auto"]] = False
    #: spotting: train and test on sliding windows of this many frames of the
    #: recordings, labelled with their gesture or ``background`` (none: clips)
    window: Optional[int] = setting(None, min=1, max=MAX_FRAMES)
    #: spotting: step between windows
    window_stride: int = setting(4, min=1, max=MAX_FRAMES)
    #: spotting: temporal IoU with a segment for a gesture label
    window_iou: float = setting(0.5, above=0, max=1)
    #: spotting: windows below this temporal IoU with every segment are background
    background_iou: float = setting(0.2, min=0, max=1)
    #: spotting: background windows per gesture window, at most
    background_ratio: float = setting(1.0, min=0)
    #: further keyword arguments of the dataset class
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig(_Section):
    _prefix: ClassVar[str] = "model."
    #: a name of :func:`topogcn.models.create_model` (gecn, gecn_baseline, stgcn)
    name: str = "gecn"
    #: keyword arguments of the model (channels, strides, heads, edges, ...)
    kwargs: Dict[str, Any] = field(default_factory=dict)


@dataclass
class LossConfig(_Section):
    _prefix: ClassVar[str] = "loss."
    label_smoothing: float = setting(0.1, min=0, below=1)
    mmd_weight: float = setting(0.1, min=0)
    z_mean_weight: float = setting(1e-4, min=0)
    prior_gain: float = setting(3.0, min=0)
    #: cross-entropy weights from the training classes' frequencies
    #: :math:`n_c`: ``none``, ``inverse`` (:math:`n_c^{-1}`) or ``sqrt``
    #: (:math:`n_c^{-1/2}`), scaled to a mean of 1 over the training clips
    class_weights: Literal["none", "inverse", "sqrt"] = "none"


@dataclass
class OptimConfig(_Section):
    _prefix: ClassVar[str] = "optim."
    #: ``sgd`` (the paper's) or ``adamw``
    name: Literal["sgd", "adamw"] = "sgd"
    #: learning rate (at ``base_batch_size`` when ``lr_scaling`` is linear)
    lr: float = setting(0.1, min=0.0)
    #: ``linear``: lr x batch_size / base_batch_size; ``none``: lr as given
    lr_scaling: Literal["linear", "none"] = "linear"
    base_batch_size: int = setting(64, min=1, max=MAX_BATCH)
    momentum: float = setting(0.9, min=0, below=1)
    nesterov: bool = True
    weight_decay: float = setting(5e-4, min=0.0)
    #: linear warm-up epochs (with a step budget, at most a tenth of the run)
    warmup_epochs: float = setting(5, min=0.0)
    #: raise the warm-up learning rate every ``step`` or every ``epoch`` (the reference)
    warmup_per: Literal["step", "epoch"] = "step"
    #: ``step`` (x gamma at milestones) or ``cosine``
    schedule: Literal["step", "cosine"] = "step"
    milestones: List[int] = field(default_factory=lambda: [90, 100])
    gamma: float = setting(0.1, above=0)


@dataclass
class TrainerConfig(_Section):
    _prefix: ClassVar[str] = "trainer."
    epochs: int = setting(110, min=1, max=100_000)
    #: Lightning's accelerator: ``cpu``, ``gpu``, ``cuda``, ``mps``, ``auto``, ...
    accelerator: str = "cpu"
    devices: Union[int, str] = 1
    strategy: str = "auto"
    num_nodes: int = setting(1, min=1)
    #: ``32-true``, ``bf16-mixed`` (bfloat16 autocast, float32 weights; on
    #: CPUs with bfloat16 instructions faster than float32, docs/benchmarks.rst),
    #: ``16-mixed`` (float16 autocast with a loss scaler that skips overflowed
    #: steps, as the reference's apex AMP; on a CUDA GPU, elsewhere it runs as
    #: ``bf16-mixed``) or ``64-true``
    precision: Literal["32-true", "bf16-mixed", "16-mixed", "64-true"] = "32-true"
    #: compile the model with ``torch.compile`` (inductor) before training,
    #: a minute or more per shape and mode; slower than eager on 2 CPU cores
    #: in this version (docs/benchmarks.rst), for other hardware
    compile: bool = False
    gradient_clip_val: Optional[float] = setting(None, above=0)
    #: the epoch log ``logs/metrics.csv`` is always written; ``tensorboard``
    #: adds TensorBoard events (needs the tensorboard package)
    logger: Literal["csv", "tensorboard"] = "csv"
    log_every_n_steps: int = setting(10, min=1)
    #: CPU threads per process (default: torch's choice)
    threads: Optional[int] = setting(None, min=1, max=MAX_THREADS)
    #: keep the memory the process frees for its next allocations instead of
    #: returning it to the system (glibc only; ignored elsewhere): no page is
    #: faulted in afresh at every step, which makes paper-size training on
    #: large skeletons faster, at the price of a resident memory that stays
    #: near its peak (docs/benchmarks.rst)
    keep_freed_memory: bool = False
    #: training batch norms take their statistics with cascaded sums of
    #: deviations (:class:`topogcn.nn.norm.AccurateBatchNorm2d`): float32
    #: gradients as close to float64 as the reference formulation's, for
    #: about 5% more time per training step on the CPU (paper-size or the
    #: compact default model, whose top-1 it moved no more than the seed
    #: does: docs/fidelity.rst)
    accurate_batch_norm: bool = False
    #: a progress bar when the output is a terminal (piped output, or
    #: false: one line per epoch)
    progress_bar: bool = True
    #: stop after this many training batches per epoch (tests, smoke runs)
    limit_train_batches: Optional[Union[int, float]] = setting(None, above=0)
    #: budget in optimisation steps: it decides the run's length, ceil(steps
    #: / batches per epoch) epochs (a budget below one epoch ends that epoch
    #: early), at most ``epochs``; none: exactly ``epochs``
    steps: Optional[int] = setting(None, min=1)
    #: wall-clock limit of training in minutes, a guard: a run whose next
    #: epoch would end past it stops at the epoch boundary, tests its best
    #: checkpoint and reports ``stopped_by: time_limit`` (not the recipe's
    #: result); the plan and schedule are never changed by the clock
    max_minutes: Optional[float] = setting(None, above=0)
    #: opt-in: fit the plan to ``max_minutes`` at the measured pace instead
    #: (cut after the first epoch, later cut or given back; the schedule is
    #: stretched over each new plan).  Results then depend on the machine's
    #: speed and load: the same seed no longer gives the same result
    fit_to_time: bool = False
    #: stop when the validation top-1 has not improved for this many epochs
    #: (needs a validation split; none: never)
    early_stopping: Optional[int] = setting(None, min=1)
    #: extend the budget at most this many times, by half the planned epochs
    #: each (a warm restart of the cosine schedule at half its peak), when the
    #: validation top-1 still rose by ``extension_gain`` over the last quarter
    #: of the epochs (needs a validation split)
    extensions: int = setting(0, min=0, max=100)
    extension_gain: float = setting(0.05, min=0.0)
    #: fit a linear baseline (logistic regression on the same preprocessed
    #: clips) and report it beside the model in metrics.json
    baselines: bool = True


@dataclass
class SpottingConfig(_Section):
    """How a spotting run learns (``data.window`` or ``method: frames``)."""
    _prefix: ClassVar[str] = "spotting."
    #: ``windows``: a clip classifier on labelled windows (``data.window``);
    #: ``frames``: a class for every frame, background included, on long
    #: crops of the recordings (:class:`~topogcn.spotting.FrameSpottingGECN`)
    method: Literal["windows", "frames"] = "windows"
    #: training crops (and inference windows) of this many frames
    crop: int = setting(128, min=8, max=MAX_FRAMES)
    #: frames between inference windows
    stride: int = setting(32, min=1, max=MAX_FRAMES)
    #: random speed of a training crop: it spans crop x speed frames, resampled
    speed: Tuple[float, float] = setting((0.8, 1.25), check=_speed_range)
    #: kernel of the temporal convolution of the frame head
    head_kernel: int = setting(5, min=1, max=99)
    #: steps between validations (the best validated weights are kept)
    eval_every: int = setting(100, min=1)
    #: decoding candidates tried on the validation split: moving-average
    #: widths of the frame probabilities (odd) and shortest detections
    smoothing: List[int] = setting(factory=lambda: [1, 5, 9, 15], check=_odd_widths)
    min_length: List[int] = setting(factory=lambda: [2, 4, 8, 12], check=_positive_list)


@dataclass
class Config(_Section):
    #: seed of everything; epoch e draws from seed and e
    seed: int = setting(0, min=0, max=MAX_SEED)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    spotting: SpottingConfig = field(default_factory=SpottingConfig)

    def to_dict(self) -> Dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def dump(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def config_differences(a: Config, b: Config) -> List[str]:
    """The dotted keys whose values differ between two configurations
    (``data.options`` and ``model.kwargs`` compared key by key)."""
    def walk(x: Any, y: Any, prefix: str) -> List[str]:
        if isinstance(x, dict) and isinstance(y, dict):
            keys = list(x) + [k for k in y if k not in x]
            return [d for k in keys for d in walk(x.get(k), y.get(k), f"{prefix}{k}.")]
        return [] if x == y else [prefix[:-1]]
    return walk(a.to_dict(), b.to_dict(), "")


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


_HINTS: Dict[type, Dict[str, Any]] = {}


def _hints(cls: type) -> Dict[str, Any]:
    """The resolved annotations of a section class (cached)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _valid_keys(cls: type, prefix: str = "") -> List[str]:
    keys = []
    for f in dataclasses.fields(cls):
        t = _hints(cls)[f.name]
        if dataclasses.is_dataclass(t):
            keys += _valid_keys(t, prefix + f.name + ".")
        else:
            keys.append(prefix + f.name)
    return keys


def _describe(types: Sequence[Any]) -> str:
    """What values of the annotations ``types`` look like, for people:
    ``true, false or auto``; ``an integer, a number or a list``."""
    words: List[str] = []
    for t in types:
        origin = typing.get_origin(t)
        if t is bool:
            words += ["true", "false"]
        elif origin is Literal:
            words += [str(a) for a in typing.get_args(t)]
        else:
            words.append({int: "an integer", float: "a number", str: "a string"}.get(t) or
                         ("a list" if origin in (list, List, tuple, Tuple) else
                          "a mapping" if origin in (dict, Dict) else str(t)))
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


def _coerce(value: Any, t: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``t`` (converting int -> float
    and lists -> tuples where declared)."""
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if t is Any:
        return value
    if origin is Literal:
        if isinstance(value, bool) or value not in args:
            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"'{key}' must be one of {', '.join(map(str, args))}; got "
                              f"{value!r}{hint}")
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        choices = [a for a in args if a is not type(None)]
        if len(choices) == 1:  # Optional[X]: X's own message
            return _coerce(value, choices[0], key)
        for a in choices:
            try:
                return _coerce(value, a, key)
            except ConfigError:
                pass
        raise ConfigError(f"'{key}' must be {_describe(choices)}; got {value!r}")
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{key}' must be a list, got {value!r}")
        return [_coerce(v, args[0], key) for v in value] if args else list(value)
    if origin in (tuple, Tuple):
        if not isinstance(value, (list, tuple)) or (args and len(value) != len(args)):
            raise ConfigError(f"'{key}' must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args))
    if origin in (dict, Dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"'{key}' must be a mapping, got {value!r}")
        return dict(value)
    if t is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"'{key}' must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"'{key}' must be a finite number, got {value!r}")
        return float(value)
    if t is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"'{key}' must be an integer, got {value!r}")
        return value
    if t is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{key}' must be true or false, got {value!r}")
        return value
    if t is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{key}' must be a string, got {value!r}")
        return value
    raise ConfigError(f"'{key}': unsupported type {t}")  # pragma: no cover


def _check_bounds(value: Any, meta: Mapping[str, Any], key: str) -> None:
    """Refuse ``value`` outside the bounds a :func:`setting` declares."""
    if value is None or not meta:
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = meta.get("min"), meta.get("max")
        if low is not None and high is not None and not low <= value <= high:
            span = "2^32 - 1 = 4294967295" if high == MAX_SEED else f"{high:g}"
            raise ConfigError(f"'{key}' must be between {low:g} and {span}, got {value!r}")
        if low is not None and value < low:
            what = "a positive number" if low == 1 else f"at least {low}"
            raise ConfigError(f"'{key}' must be {what}, got {value!r}")
        if high is not None and value > high:
            raise ConfigError(f"'{key}' must be at most {high:g}, got {value!r}")
        if "above" in meta and not value > meta["above"]:
            what = "positive" if meta["above"] == 0 else f"above {meta['above']}"
            raise ConfigError(f"'{key}' must be {what}, got {value!r}")
        if "below" in meta and not value < meta["below"]:
            raise ConfigError(f"'{key}' must be below {meta['below']}, got {value!r}")
    problem = meta["check"](value) if "check" in meta else None
    if problem:
        raise ConfigError(f"'{key}' {problem}")


def merge_config(obj: Any, data: Mapping[str, Any], prefix: str = "",
                 source: str = "config") -> None:
    """Merge the nested mapping ``data`` into the config section ``obj``
    (checked key by key; errors name ``source`` and the dotted key)."""
    for key, value in data.items():
        full = prefix + str(key)
        try:
            current = getattr(obj, str(key)) if isinstance(key, str) and \
                key in obj.__dataclass_fields__ else None
            if isinstance(current, _Section):
                if not isinstance(value, Mapping):
                    raise ConfigError(f"'{full}' must be a mapping of "
                                      f"{', '.join(_valid_keys(type(current), full + '.'))}")
                merge_config(current, value, full + ".", source)
            else:
                setattr(obj, str(key), value)
        except ConfigError as e:
            message = str(e)
            raise ConfigError(message if message.startswith(source) else
                              f"{source}: {message}") from None


def _unknown_key(full: str) -> str:
    """'unknown key X; did you mean Y?' with the closest valid keys."""
    close = difflib.get_close_matches(full, _valid_keys(Config), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown key '{full}'{hint} (`topogcn config` prints every key)"


def resolve_config_path(name: str) -> str:
    """A path, or the name of a packaged config (``paper-smg``)."""
    if os.path.isfile(name):
        return name
    packaged = os.path.join(CONFIG_DIR, name if name.endswith(".yaml") else name + ".yaml")
    if os.path.isfile(packaged):
        return packaged
    names = sorted(f[:-5] for f in os.listdir(CONFIG_DIR) if f.endswith(".yaml"))
    raise ConfigError(f"Config '{name}' is neither a file nor a packaged config "
                      f"({', '.join(names)})")


def parse_override(text: str) -> Tuple[List[str], Any]:
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def load_config(path: Optional[str] = None, overrides: Sequence[str] = ()) -> Config:
    """The default config, updated by the YAML file ``path`` (a path or a
    packaged name; it may ``base: other-config`` to start from another: a
    file beside it, or a packaged name),
    then by ``key=value`` overrides."""
    cfg = Config()
    if path is not None:
        for data, source in _read_chain(resolve_config_path(path)):
            merge_config(cfg, data, "", source)
    for text in overrides:
        keys, value = parse_override(text)
        apply_override(cfg, keys, value, text)
    return cfg


def apply_override(cfg: Config, keys: List[str], value: Any, text: str) -> None:
    """Set one dotted key (from :func:`parse_override`); below a dict-valued
    field (``data.options``, ``model.kwargs``) any sub-key is accepted."""
    obj: Any = cfg
    for i, k in enumerate(keys[:-1]):
        if isinstance(obj, dict):
            obj = obj.setdefault(k, {})
            continue
        if not dataclasses.is_dataclass(obj) or k not in {f.name for f in
                                                          dataclasses.fields(obj)}:
            raise ConfigError(f"--set {text}: {_unknown_key('.'.join(keys))}")
        obj = getattr(obj, k)
    if isinstance(obj, dict):
        obj[keys[-1]] = value
        return
    merge_config(obj, {keys[-1]: value}, ".".join(keys[:-1]) + "." if len(keys) > 1 else "",
                 f"--set {text}")


def _read_chain(path: str, seen: Optional[set] = None) -> List[Tuple[Dict[str, Any], str]]:
    seen = seen or set()
    if path in seen:
        raise ConfigError(f"{path}: 'base' loops back to itself")
    seen.add(path)
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_CONFIG_BYTES + 1).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte at offset {e.start})") from None
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; not a "
                          f"configuration")
    try:
        data = load_yaml(text) or {}
    except (yaml.YAMLError, RecursionError) as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    chain: List[Tuple[Dict[str, Any], str]] = []
    base = data.pop("base", None)
    if base is not None:
        if not isinstance(base, str) or not base:
            raise ConfigError(f"{path}: 'base' must name a config (a file beside this one or "
                              f"a packaged name), got {base!r}")
        beside = os.path.join(os.path.dirname(os.path.abspath(path)), base)
        try:
            parent = beside if os.path.isfile(beside) else resolve_config_path(base)
        except ConfigError as e:
            raise ConfigError(f"{path}: base: {e}") from None
        chain += _read_chain(parent, seen)
    return chain + [(data, path)]
