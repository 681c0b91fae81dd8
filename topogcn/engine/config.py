"""Typed run configuration, read from YAML with dotted overrides.

A configuration is a tree of dataclasses; a YAML file gives any subset of it
and ``--set section.key=value`` overrides single values.  Unknown keys and
wrongly typed values are rejected with a message listing the valid keys.
Packaged configurations (``topogcn/configs/*.yaml``) can be named instead of a
path: ``--config paper-smg``.
"""
from __future__ import annotations

import dataclasses
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import yaml

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "configs")


class ConfigError(ValueError):
    """A configuration key or value that is not valid."""


class _Loader(yaml.SafeLoader):
    """YAML with YAML 1.2's numbers: ``1e-3`` is a float (PyYAML's YAML 1.1
    rules read it as text)."""


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


@dataclass
class DataConfig:
    #: a registered dataset (:func:`topogcn.datasets.list_datasets`): ``synthetic``,
    #: ``smg``, ``imigue``, ``folder``, ...
    name: str = "synthetic"
    #: dataset folder (not used by ``synthetic``)
    root: Optional[str] = None
    #: skeleton override: registry name or JSON/YAML file (a folder with a
    #: ``skeleton.json`` needs none)
    skeleton: Optional[str] = None
    #: frames per clip after resampling
    frames: int = 64
    batch_size: int = 32
    #: batch size at evaluation (default: batch_size)
    eval_batch_size: Optional[int] = None
    num_workers: int = 0
    #: input stream: ``joint``, ``bone``, ``motion`` or ``bone_motion`` (after resampling)
    stream: str = "joint"
    #: training subjects held out for validation: a fraction (0.2: a fifth of
    #: them, drawn with the run's seed), a count (the last n) or their ids;
    #: none: no validation (the last epoch is tested)
    val_subjects: Optional[Union[int, float, List[int]]] = None
    #: validate on the test split, so that best.ckpt is the best test epoch: the
    #: official code's protocol (optimistic; not for model selection)
    val_on_test: bool = False
    #: k of the ``kmode`` stream, :math:`(I - A^k) X` (the reference trains on k = 1)
    k: int = 1
    #: centring: ``first_frame``, ``per_frame`` or ``none``
    center: str = "first_frame"
    #: the joint to centre on and root of the bone/kmode tree (name or index;
    #: default: the skeleton's centre)
    center_joint: Optional[Union[int, str]] = None
    #: centre ``each`` person on its own joint, or all on the ``first`` person's
    center_person: str = "each"
    #: divide by the mean bone length
    normalize_scale: bool = True
    #: training augmentation: random crop-and-resize and rotation
    augment: bool = True
    crop_scale: Tuple[float, float] = (0.5, 1.0)
    #: the training crop never keeps fewer frames than this (the reference: 64)
    crop_min_frames: Optional[int] = None
    #: fraction of a test clip kept (centred) before resampling (the reference: 0.95)
    test_crop: float = 1.0
    #: drop the last incomplete training batch (the reference does)
    drop_last: bool = False
    #: maximum rotation in radians (0.3 in the reference)
    rotation: float = 0.3
    #: axes of the rotation of 3D data: ``xyz`` (the reference) or ``y`` (about
    #: the vertical only); 2D data turns in the image plane
    rotation_axes: str = "xyz"
    #: random scale of each coordinate axis in [1 - scale, 1 + scale] (0: none)
    scale: float = 0.0
    #: left/right mirroring (half the clips) through the skeleton's mirror
    #: pairs: true, false, or auto (on when the skeleton declares its pairs
    #: and the dataset's classes do not depend on the side)
    mirror: Union[bool, str] = False
    #: spotting: train and test on sliding windows of this many frames of the
    #: recordings, labelled with their gesture or ``background`` (none: clips)
    window: Optional[int] = None
    #: spotting: step between windows
    window_stride: int = 4
    #: spotting: temporal IoU with a segment for a gesture label
    window_iou: float = 0.5
    #: spotting: windows below this temporal IoU with every segment are background
    background_iou: float = 0.2
    #: spotting: background windows per gesture window, at most
    background_ratio: float = 1.0
    #: further keyword arguments of the dataset class
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    #: a name of :func:`topogcn.models.create_model` (gecn, gecn_baseline, stgcn)
    name: str = "gecn"
    #: keyword arguments of the model (channels, strides, heads, edges, ...)
    kwargs: Dict[str, Any] = field(default_factory=dict)


@dataclass
class LossConfig:
    label_smoothing: float = 0.1
    mmd_weight: float = 0.1
    z_mean_weight: float = 1e-4
    prior_gain: float = 3.0


@dataclass
class OptimConfig:
    #: ``sgd`` (the paper's) or ``adamw``
    name: str = "sgd"
    #: learning rate (at ``base_batch_size`` when ``lr_scaling`` is linear)
    lr: float = 0.1
    #: ``linear``: lr x batch_size / base_batch_size; ``none``: lr as given
    lr_scaling: str = "linear"
    base_batch_size: int = 64
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    #: linear warm-up epochs (with a step budget, at most a tenth of the run)
    warmup_epochs: float = 5
    #: raise the warm-up learning rate every ``step`` or every ``epoch`` (the reference)
    warmup_per: str = "step"
    #: ``step`` (x gamma at milestones) or ``cosine``
    schedule: str = "step"
    milestones: List[int] = field(default_factory=lambda: [90, 100])
    gamma: float = 0.1


@dataclass
class TrainerConfig:
    epochs: int = 110
    accelerator: str = "cpu"
    devices: Union[int, str] = 1
    strategy: str = "auto"
    num_nodes: int = 1
    #: ``32-true`` or ``bf16-mixed`` (bfloat16 autocast, float32 weights; on
    #: CPUs with bfloat16 instructions 1.4-1.75x the float32 training speed of
    #: the paper-size model, docs/benchmarks.rst)
    precision: str = "32-true"
    #: compile the model with ``torch.compile`` (inductor) before training,
    #: a minute or more per shape and mode; slower than eager on 2 CPU cores
    #: in this version (0.73-0.79x, docs/benchmarks.rst), for other hardware
    compile: bool = False
    gradient_clip_val: Optional[float] = None
    #: ``csv`` or ``tensorboard`` (needs the tensorboard package)
    logger: str = "csv"
    log_every_n_steps: int = 10
    #: CPU threads per process (default: torch's choice)
    threads: Optional[int] = None
    #: keep the memory the process frees for its next allocations instead of
    #: returning it to the system (glibc only; ignored elsewhere): no page is
    #: faulted in afresh at every step, which makes paper-size training on
    #: large skeletons faster (openpose137: 1.4-1.5x), at the price of a
    #: resident memory that stays near its peak (docs/benchmarks.rst)
    keep_freed_memory: bool = False
    #: a progress bar when the output is a terminal (piped output, or
    #: false: one line per epoch)
    progress_bar: bool = True
    #: stop after this many training batches per epoch (tests, smoke runs)
    limit_train_batches: Optional[Union[int, float]] = None
    #: budget in optimisation steps: it decides the run's length, ceil(steps
    #: / batches per epoch) epochs (a budget below one epoch ends that epoch
    #: early), at most ``epochs``; none: exactly ``epochs``
    steps: Optional[int] = None
    #: wall-clock limit of training in minutes, a guard: a run whose next
    #: epoch would end past it stops at the epoch boundary, tests its best
    #: checkpoint and reports ``stopped_by: time_limit`` (not the recipe's
    #: result); the plan and schedule are never changed by the clock
    max_minutes: Optional[float] = None
    #: opt-in: fit the plan to ``max_minutes`` at the measured pace instead
    #: (cut after the first epoch, later cut or given back; the schedule is
    #: stretched over each new plan).  Results then depend on the machine's
    #: speed and load: the same seed no longer gives the same result
    fit_to_time: bool = False
    #: stop when the validation top-1 has not improved for this many epochs
    #: (needs a validation split; none: never)
    early_stopping: Optional[int] = None
    #: extend the budget at most this many times, by half the planned epochs
    #: each (a warm restart of the cosine schedule at half its peak), when the
    #: validation top-1 still rose by ``extension_gain`` over the last quarter
    #: of the epochs (needs a validation split; within ``max_minutes``)
    extensions: int = 0
    extension_gain: float = 0.05
    #: fit a linear baseline (logistic regression on the same preprocessed
    #: clips) and report it beside the model in metrics.json
    baselines: bool = True


@dataclass
class Config:
    #: seed of everything; epoch e draws from seed and e
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

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


def _valid_keys(cls: type, prefix: str = "") -> List[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        t = hints[f.name]
        if dataclasses.is_dataclass(t):
            keys += _valid_keys(t, prefix + f.name + ".")
        else:
            keys.append(prefix + f.name)
    return keys


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


def _coerce(value: Any, t: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``t`` (converting int -> float
    and lists -> tuples where declared)."""
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if t is Any:
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"'{key}' must be {' or '.join(_type_name(a) for a in args)}, got "
                          f"{value!r}")
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


def merge_config(obj: Any, data: Mapping[str, Any], prefix: str = "",
                 source: str = "config") -> None:
    """Merge the nested mapping ``data`` into the config dataclass ``obj``
    (checked key by key; errors name ``source`` and the dotted key)."""
    cls = type(obj)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in data.items():
        full = prefix + str(key)
        if key not in names:
            raise ConfigError(f"{source}: {_unknown_key(full)}")
        t = hints[key]
        if dataclasses.is_dataclass(t):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: '{full}' must be a mapping of "
                                  f"{', '.join(_valid_keys(t, full + '.'))}")
            merge_config(getattr(obj, key), value, full + ".", source)
        else:
            try:
                new = _coerce(value, t, full)
            except ConfigError as e:
                raise ConfigError(f"{source}: {e}") from None
            setattr(obj, key, new)


def _unknown_key(full: str) -> str:
    """'unknown key X; did you mean Y?' with the closest valid keys."""
    import difflib

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
    check_config(cfg)
    return cfg


#: (dotted key, smallest value) of the numbers that must not go below it
_MINIMA = (("seed", 0), ("data.frames", 1), ("data.batch_size", 1), ("data.eval_batch_size", 1),
           ("data.num_workers", 0), ("data.window", 1), ("data.window_stride", 1),
           ("data.k", 1), ("data.crop_min_frames", 1), ("optim.lr", 0.0),
           ("optim.base_batch_size", 1), ("optim.weight_decay", 0.0),
           ("optim.warmup_epochs", 0.0), ("trainer.epochs", 1), ("trainer.num_nodes", 1),
           ("trainer.threads", 1), ("trainer.log_every_n_steps", 1), ("trainer.steps", 1),
           ("trainer.early_stopping", 1), ("data.scale", 0.0), ("trainer.extensions", 0),
           ("trainer.extension_gain", 0.0))


def check_config(cfg: "Config") -> None:
    """Refuse values no run can use, naming the key (a negative batch size,
    zero epochs, a seed outside 0 .. 2^32 - 1, ...)."""
    for key, low in _MINIMA:
        obj: Any = cfg
        for part in key.split("."):
            obj = getattr(obj, part)
        if obj is not None and obj < low:
            what = "a positive number" if low == 1 else f"at least {low}"
            raise ConfigError(f"'{key}' must be {what}, got {obj!r}")
    if cfg.seed > 2 ** 32 - 1:
        raise ConfigError(f"'seed' must be between 0 and 2^32 - 1 = {2 ** 32 - 1}, got "
                          f"{cfg.seed}")
    if not 0 < cfg.data.test_crop <= 1:
        raise ConfigError(f"'data.test_crop' must be in (0, 1], got {cfg.data.test_crop}")
    if not cfg.data.rotation_axes or set(cfg.data.rotation_axes) - set("xyz"):
        raise ConfigError(f"'data.rotation_axes' must be letters of xyz, got "
                          f"{cfg.data.rotation_axes!r}")
    if cfg.data.scale >= 1:
        raise ConfigError(f"'data.scale' must be below 1, got {cfg.data.scale}")
    if isinstance(cfg.data.mirror, str) and cfg.data.mirror != "auto":
        raise ConfigError(f"'data.mirror' must be true, false or auto, got {cfg.data.mirror!r}")
    v = cfg.data.val_subjects
    if isinstance(v, float) and not 0 < v < 1:
        raise ConfigError(f"'data.val_subjects' as a fraction must be between 0 and 1, got {v} "
                          f"(a whole number is a count of subjects)")
    if cfg.trainer.max_minutes is not None and cfg.trainer.max_minutes <= 0:
        raise ConfigError(f"'trainer.max_minutes' must be positive, got "
                          f"{cfg.trainer.max_minutes}")


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
        with open(path, encoding="utf-8") as f:
            data = load_yaml(f) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    chain: List[Tuple[Dict[str, Any], str]] = []
    base = data.pop("base", None)
    if base:
        beside = os.path.join(os.path.dirname(os.path.abspath(path)), str(base))
        chain += _read_chain(beside if os.path.isfile(beside) else resolve_config_path(base),
                             seen)
    return chain + [(data, path)]
