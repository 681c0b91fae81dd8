"""The preprocessing of an :class:`~topogcn.transforms.InputSpec`, defined once."""
from __future__ import annotations

from typing import Callable, List, Sequence

import torch
from torch import Tensor

from topogcn.transforms.input_spec import InputSpec
from topogcn.transforms.transforms import (
    Compose, bone_stream, center_joint, motion_stream, normalize_scale, resize_frames,
)


class Preprocess(torch.nn.Module):
    r"""Raw clips in, model input out, exactly as an
    :class:`~topogcn.transforms.InputSpec` says:

    .. math::
        \mathbf{X} \in \mathbb{R}^{M' \times T' \times V \times C}
        \xrightarrow{\text{persons}} \xrightarrow{\text{centre}}
        \xrightarrow{\text{scale}} \xrightarrow{\text{resample}}
        \xrightarrow{\text{stream}}
        \mathbb{R}^{M \times T \times V \times C}

    The same module serves training (where augmentation sits between
    :meth:`normalize` and :meth:`resample`, see :meth:`with_augmentation`),
    evaluation, prediction, spotting, analysis and export: it is plain
    tensor algebra on ``[..., M, T, V, C]`` with any leading batch
    dimensions, which ``torch.jit.trace`` and ``torch.onnx.export`` capture
    with a free batch size and clip length.  Streams are computed after
    resampling, so a motion stream means the same at training and at test.

    Args:
        spec (InputSpec): The input contract.

    Shapes:
        - **input:** raw clips :math:`(*, M', T', V, C)`
        - **output:** :math:`(*, M, T, V, C)` with :math:`M` =
          ``spec.persons`` and :math:`T` = ``spec.frames``
    """

    def __init__(self, spec: InputSpec) -> None:
        super().__init__()
        self.spec = spec
        bones = torch.tensor(spec.skeleton.bones, dtype=torch.long).view(-1, 2)
        self.register_buffer("bones", bones, persistent=False)
        self.register_buffer("parents", torch.tensor(spec.skeleton.parents, dtype=torch.long),
                             persistent=False)

    # -------------------------------------------------------------- steps
    def normalize(self, x: Tensor) -> Tensor:
        """Persons, centring and scale: everything before the time axis is
        touched (and before training augmentation)."""
        spec, dims = self.spec, self.spec.coordinate_dims
        x = spec.fit_persons(x)
        if spec.center != "none":
            x = center_joint(x, spec.skeleton.center, dims, spec.center == "per_frame")
        if spec.normalize_scale:
            x = normalize_scale(x, self.bones, dims)
        return x

    def resample(self, x: Tensor) -> Tensor:
        """Linear resampling to ``spec.frames`` frames."""
        return resize_frames(x, self.spec.frames)

    def to_stream(self, x: Tensor) -> Tensor:
        """The input stream, of the coordinate channels only."""
        stream, dims = self.spec.stream, self.spec.coordinate_dims
        if stream in ("bone", "bone_motion"):
            x = bone_stream(x, self.parents, dims)
        if stream in ("motion", "bone_motion"):
            x = motion_stream(x, dims)
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.to_stream(self.resample(self.normalize(x)))

    # ---------------------------------------------------------- training
    def with_augmentation(self, augmentations: Sequence[Callable[[Tensor], Tensor]]
                          ) -> Compose:
        """The training transform: :meth:`normalize`, the ``augmentations``
        (e.g. :class:`~topogcn.transforms.RandomCropResize`,
        :class:`~topogcn.transforms.RandomRotation`), :meth:`resample`,
        :meth:`to_stream`.  With no augmentation it equals ``self``."""
        steps: List[Callable[[Tensor], Tensor]] = [self.normalize, *augmentations,
                                                   self.resample, self.to_stream]
        return Compose(steps)

    def extra_repr(self) -> str:
        return self.spec.describe()
