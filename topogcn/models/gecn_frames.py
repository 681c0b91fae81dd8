"""GE-CN with a frame-level head: a class for every frame, for spotting."""
from __future__ import annotations

from typing import Union

import torch.nn.functional as F
from torch import Tensor
from torch.nn import BatchNorm1d, Conv1d, Module, ReLU, Sequential

from topogcn.models.gecn import GECN
from topogcn.skeleton import Skeleton


class FrameSpottingGECN(Module):
    r"""GE-CN's encoder with a frame-level classification head, for spotting
    micro-gestures in long recordings without sliding-window voting.

    .. math::
        H = \operatorname{mean}_{m,v} \psi^{(L)} \in
            \mathbb{R}^{C \times T_L}, \quad
        Y = \mathbf{W}_2 \,\mathrm{ReLU}(\mathrm{BN}(\mathbf{W}_1 \star H)),
        \quad \hat{Y} = \mathrm{interp}_T(Y)

    The encoder blocks of :class:`~topogcn.models.GECN` (S-GC then MS-TC)
    keep a time axis until GE-CN's global pooling; here the encoder output
    is pooled over joints and persons only (:meth:`GECN.frame_features`),
    a temporal convolution of ``head_kernel`` frames :math:`\mathbf{W}_1`
    and a per-frame linear layer :math:`\mathbf{W}_2` give every (strided)
    frame the logits of the ``num_classes`` classes (the gestures and the
    background, last), linearly interpolated back to the input's
    :math:`T` frames.  Any clip length works (the joint embedding has no
    temporal position).

    Args:
        num_classes (int): Classes, the background included.
        skeleton (Skeleton or str): The skeleton.
        head_kernel (int, optional): Frames of the head's temporal
            convolution. (default: :obj:`5`)
        **kwargs (optional): Arguments of :class:`~topogcn.models.GECN`
            (``in_channels``, ``num_person``, ``channels``, ``strides``,
            ``heads``, ...).

    Shapes:
        - **input:** :math:`(N, M, T, V, C)`
        - **output:** logits :math:`(N, \text{num_classes}, T)`
    """

    def __init__(self, num_classes: int, skeleton: Union[Skeleton, str], head_kernel: int = 5,
                 **kwargs) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"FrameSpottingGECN: num_classes must count the gestures and the "
                             f"background (at least 2), got {num_classes}")
        if head_kernel < 1 or head_kernel % 2 == 0:
            raise ValueError(f"FrameSpottingGECN: head_kernel must be odd and positive, got "
                             f"{head_kernel}")
        self.encoder = GECN(num_classes, skeleton, **kwargs)
        # the encoder's latent layers and classifier are not used
        for name in ("fc", "fc_mu", "fc_logvar", "classifier"):
            delattr(self.encoder, name)
        self.num_classes, self.head_kernel = num_classes, head_kernel
        c = self.encoder.latent_dim
        self.head = Sequential(Conv1d(c, c, head_kernel, padding=head_kernel // 2),
                               BatchNorm1d(c), ReLU(), Conv1d(c, num_classes, 1))

    @property
    def skeleton(self) -> Skeleton:
        return self.encoder.skeleton

    def reset_parameters(self) -> None:
        self.encoder.embedding.reset_parameters()
        if self.encoder.data_bn is not None:
            self.encoder.data_bn.reset_parameters()
        for block in self.encoder.blocks:
            block.reset_parameters()
        for layer in self.head:
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        T = x.size(2)
        logits = self.head(self.encoder.frame_features(x))
        return F.interpolate(logits, size=T, mode="linear", align_corners=False)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_classes={self.num_classes}, "
                f"skeleton='{self.skeleton.name}', blocks={len(self.encoder.blocks)}, "
                f"head_kernel={self.head_kernel})")
