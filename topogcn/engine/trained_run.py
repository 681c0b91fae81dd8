"""A trained run, loaded once: configuration, model and input contract."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Union

import torch
from torch import Tensor

from topogcn.datasets import SkeletonDataset
from topogcn.engine.checkpoint import CheckpointError, load_checkpoint_file, verify_checkpoint
from topogcn.engine.config import Config, ConfigError, load_config, merge_config
from topogcn.engine.data import build_dataset
from topogcn.models import FrameSpottingGECN, create_model
from topogcn.nn import fuse
from topogcn.skeleton import Skeleton
from topogcn.transforms import InputSpec, InputSpecError, Preprocess

#: the key of topogcn's entry in a checkpoint
CKPT_KEY = "topogcn"
#: version of that entry: 2 holds an :class:`InputSpec`
PAYLOAD_VERSION = 2


def build_model(cfg: Config, spec: InputSpec) -> torch.nn.Module:
    """The model of ``cfg.model`` for inputs and classes of ``spec``."""
    kwargs = dict(cfg.model.kwargs)
    kwargs.setdefault("in_channels", spec.num_channels)
    kwargs.setdefault("num_person", spec.persons)
    if cfg.spotting.method == "frames":
        if cfg.model.name != "gecn":
            raise ConfigError(f"spotting.method=frames spots with GE-CN's encoder; "
                              f"model.name={cfg.model.name!r} cannot be used with it")
        try:
            return FrameSpottingGECN(spec.num_classes, spec.skeleton,
                                     head_kernel=cfg.spotting.head_kernel, **kwargs)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"model.kwargs of the frame spotter: {e}") from None
    try:
        return create_model(cfg.model.name, num_classes=spec.num_classes,
                            skeleton=spec.skeleton, **kwargs)
    except TypeError as e:
        raise ConfigError(f"model.kwargs of model '{cfg.model.name}': {e}") from None


def run_payload(cfg: Config, spec: InputSpec) -> Dict[str, Any]:
    """What every checkpoint of a run stores under :data:`CKPT_KEY`."""
    return {"version": PAYLOAD_VERSION, "config": cfg.to_dict(), "input_spec": spec.to_dict()}


class ClipClassifier(torch.nn.Module):
    """Raw clips in, logits out: the run's :class:`~topogcn.transforms.Preprocess`
    then its model, as one module (what ``topogcn export`` writes).

    Shapes:
        - **input:** raw clips :math:`(N, M, T, V, C)`, any :math:`T`
        - **output:** logits :math:`(N, K)`
    """

    def __init__(self, preprocess: Preprocess, model: torch.nn.Module) -> None:
        super().__init__()
        self.preprocess, self.model = preprocess, model

    def forward(self, clip: Tensor) -> Tensor:
        return self.model(self.preprocess(clip))


@dataclass
class Run:
    """A trained run: its configuration, its model (eval mode) and its
    :class:`~topogcn.transforms.InputSpec`.  :meth:`load` reads a checkpoint
    once; evaluation, prediction, spotting, analysis and export all start
    from a :class:`Run`.

    Example::

        run = Run.load("runs/synthetic-default/checkpoints/best.ckpt")
        probs = run.predict_proba(torch.from_numpy(np.load("clip.npy")))  # raw [T, V, C]
    """

    config: Config
    model: torch.nn.Module
    spec: InputSpec
    checkpoint: Optional[str] = None
    #: the spotting decoding chosen on the validation split when the run
    #: was trained (``smoothing``, ``min_length``), for frame-level spotting
    decoding: Optional[Dict[str, int]] = None
    _preprocess: Optional[Preprocess] = field(default=None, repr=False)
    _inference_model: Optional[torch.nn.Module] = field(default=None, repr=False)

    @classmethod
    def load(cls, checkpoint: str, allow_unverified: bool = False) -> "Run":
        """Rebuild the run of a checkpoint written by ``topogcn train``,
        verified against its integrity record (a checkpoint without one
        only with ``allow_unverified``); errors name the file and the
        field."""
        ck = load_checkpoint_file(checkpoint)
        if CKPT_KEY not in ck or "state_dict" not in ck:
            raise CheckpointError(f"Checkpoint '{checkpoint}' was not written by `topogcn "
                                  f"train` (no '{CKPT_KEY}' entry)")
        verify_checkpoint(ck, checkpoint, allow_unverified)
        meta = ck[CKPT_KEY]
        where = f"checkpoint '{checkpoint}'"
        if not isinstance(meta, Mapping) or not isinstance(meta.get("config"), Mapping):
            raise CheckpointError(f"{where}: the '{CKPT_KEY}' entry has no 'config' mapping")
        if "input_spec" not in meta:
            raise CheckpointError(f"{where}: the '{CKPT_KEY}' entry has no 'input_spec' (what "
                                  f"the model expects of its input)")
        cfg = load_config(None)
        try:
            merge_config(cfg, meta["config"], "", where)
            spec = InputSpec.from_dict(meta["input_spec"], f"{where}: input_spec")
        except (ConfigError, InputSpecError) as e:
            raise CheckpointError(str(e)) from None
        model = build_model(cfg, spec)
        state = {k[len("model."):]: v for k, v in ck["state_dict"].items()
                 if k.startswith("model.")}
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise CheckpointError(f"Checkpoint '{checkpoint}' does not match its model: "
                                  f"{str(e).splitlines()[0]}") from None
        decoding = meta.get("decoding")
        if decoding is not None and not (
                isinstance(decoding, Mapping) and set(decoding) <= {"smoothing", "min_length"}
                and all(isinstance(v, int) and v >= 1 for v in decoding.values())):
            raise CheckpointError(f"{where}: 'decoding' must map smoothing and min_length to "
                                  f"positive whole numbers, got {decoding!r}")
        return cls(cfg, model.eval(), spec, checkpoint,
                   dict(decoding) if decoding is not None else None)

    @classmethod
    def of(cls, checkpoint: Union[str, "Run"]) -> "Run":
        """``checkpoint`` itself when it is a :class:`Run`, else
        :meth:`load` of it: library functions take either."""
        return checkpoint if isinstance(checkpoint, Run) else cls.load(checkpoint)

    @property
    def name(self) -> str:
        """The checkpoint's path, for messages."""
        return self.checkpoint or "the run"

    # ------------------------------------------------------------ views
    @property
    def classes(self) -> List[str]:
        return list(self.spec.classes)

    @property
    def skeleton(self) -> Skeleton:
        return self.spec.skeleton

    @property
    def preprocess(self) -> Preprocess:
        """The run's preprocessing (raw clip -> model input)."""
        if self._preprocess is None:
            self._preprocess = Preprocess(self.spec)
        return self._preprocess

    @property
    def inference_model(self) -> torch.nn.Module:
        """:func:`topogcn.nn.fuse` of the model (made once): what
        evaluation, prediction, spotting and export run."""
        if self._inference_model is None:
            self._inference_model = fuse(self.model)
        return self._inference_model

    @property
    def is_frame_spotter(self) -> bool:
        """Whether the model gives a class for every frame
        (``spotting.method: frames``) rather than one per clip."""
        return self.config.spotting.method == "frames"

    def require_clip_classifier(self, what: str) -> None:
        """Refuse a frame-level spotter where a clip classifier is needed
        (``what``: the operation, for the message)."""
        if self.is_frame_spotter:
            raise CheckpointError(f"{self.name} is a frame-level spotter (spotting.method="
                                  f"frames): {what} needs a clip classifier; spot with "
                                  f"`topogcn spot --checkpoint {self.name}`")

    def classifier(self) -> ClipClassifier:
        """Preprocessing and the inference model as one module (eval mode)."""
        self.require_clip_classifier("classifying clips")
        return ClipClassifier(self.preprocess, self.inference_model).eval()

    def dataset(self, split: str = "test", cfg: Optional[Config] = None) -> SkeletonDataset:
        """``split`` of the run's dataset (or of ``cfg.data``) with the
        run's preprocessing; data that contradicts the spec is refused."""
        data = (cfg or self.config).data
        return build_dataset(data, split, spec=self.spec)

    # -------------------------------------------------------- prediction
    @torch.inference_mode()
    def predict_proba(self, clip: Union[Tensor, Any], source: str = "input") -> Tensor:
        """Class probabilities of a raw clip ``[T, V, C]`` / ``[M, T, V, C]``
        (``[K]``) or a batch ``[N, M, T, V, C]`` (``[N, K]``)."""
        x = torch.as_tensor(clip, dtype=torch.float32)
        if x.dim() == 3:
            x = x.unsqueeze(0)
        self.spec.check_raw(x, source)
        single = x.dim() == 4
        logits = self.classifier()(x.unsqueeze(0) if single else x)
        probs = torch.softmax(logits, dim=-1)
        return probs[0] if single else probs


def load_run(checkpoint: str, allow_unverified: bool = False) -> Run:
    """:meth:`Run.load`."""
    return Run.load(checkpoint, allow_unverified)
