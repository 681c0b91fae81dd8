"""The preprocessing of an :class:`~topogcn.transforms.InputSpec`, defined once."""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import torch
from torch import Tensor

from topogcn.transforms.input_spec import InputSpec
from topogcn.transforms.transforms import (
    Compose, align_view, center_joint, kmode_stream, motion_stream, normalize_scale, resize_frames,
)


class Preprocess(torch.nn.Module):
    r"""Raw clips in, model input out, exactly as an
    :class:`~topogcn.transforms.InputSpec` says:

    .. math::
        \mathbf{X} \in \mathbb{R}^{M' \times T' \times V \times C}
        \xrightarrow{\text{persons}} \xrightarrow{\text{centre}}
        \xrightarrow{\text{align}} \xrightarrow{\text{scale}} \xrightarrow{\text{resample}}
        \xrightarrow{\text{stream}}
        \mathbb{R}^{M \times T \times V \times C}

    The same module serves training (where a random crop replaces
    :meth:`resample` and spatial augmentation follows it, see
    :meth:`with_augmentation`),
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
        skeleton = spec.skeleton
        self.register_buffer("parents", torch.tensor(skeleton.parents_from(spec.root),
                                                     dtype=torch.long), persistent=False)
        self.register_buffer("ancestors", torch.tensor(skeleton.ancestors(spec.k, spec.root),
                                                       dtype=torch.long), persistent=False)

    # -------------------------------------------------------------- steps
    def normalize(self, x: Tensor) -> Tensor:
        """Persons, centring and scale: everything before the time axis is
        touched (and before training augmentation)."""
        spec, dims = self.spec, self.spec.coordinate_dims
        x = spec.fit_persons(x)
        if spec.center != "none":
            x = center_joint(x, spec.root, dims, spec.center == "per_frame",
                             first_person=spec.center_person == "first",
                             first_present=spec.center == "first_present")
        if spec.align is not None:
            x = align_view(x, spec.align)
        if spec.normalize_scale:
            x = normalize_scale(x, self.bones, dims)
        return x

    def resample(self, x: Tensor) -> Tensor:
        """Linear resampling of the centre ``spec.test_crop`` of the clip to
        ``spec.frames`` frames."""
        return resize_frames(x, self.spec.frames, self.spec.test_crop)

    def to_stream(self, x: Tensor) -> Tensor:
        """The input stream, of the coordinate channels only."""
        stream, dims = self.spec.stream, self.spec.coordinate_dims
        if stream in ("bone", "bone_motion"):
            x = kmode_stream(x, self.parents, dims)
        if stream in ("kmode", "kmode_motion"):
            x = kmode_stream(x, self.ancestors, dims)
        if stream in ("motion", "bone_motion", "kmode_motion"):
            x = motion_stream(x, dims)
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.to_stream(self.resample(self.normalize(x)))

    # ---------------------------------------------------------- training
    def with_augmentation(self, temporal: Optional[Callable[[Tensor], Tensor]] = None,
                          spatial: Sequence[Callable[[Tensor], Tensor]] = ()) -> Compose:
        """The training transform: :meth:`normalize`; ``temporal`` (e.g.
        :class:`~topogcn.transforms.RandomCropResize` to ``spec.frames``) in
        place of :meth:`resample`; the ``spatial`` augmentations (e.g.
        :class:`~topogcn.transforms.RandomRotation`); :meth:`to_stream`.
        With no augmentation it equals ``self``."""
        steps: List[Callable[[Tensor], Tensor]] = [
            self.normalize, temporal or self.resample, *spatial, self.to_stream]
        return Compose(steps)

    def extra_repr(self) -> str:
        return self.spec.describe()
