"""Batch normalisation for channels-last skeleton tensors."""
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import BatchNorm2d
from torch.nn.modules.batchnorm import _BatchNorm


class ChannelsLastBatchNorm(BatchNorm2d):
    r"""Batch normalisation over the last dimension of a :math:`(N, T, V, C)`
    tensor, computed in place of layout: the tensor is viewed as
    :math:`(N, C, T, V)` in ``channels_last`` memory format, which
    :class:`torch.nn.BatchNorm2d` handles without a copy.

    Args:
        num_features (int): Number of channels :math:`C`.
        weight_init (float, optional): Initial scale :math:`\gamma`.
            (default: :obj:`1.0`)
        **kwargs (optional): Arguments of :class:`torch.nn.BatchNorm2d`.

    Shapes:
        - **input:** :math:`(N, T, V, C)`
        - **output:** :math:`(N, T, V, C)`
    """

    def __init__(self, num_features: int, weight_init: float = 1.0, **kwargs) -> None:
        self.weight_init = weight_init
        super().__init__(num_features, **kwargs)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.affine:
            self.weight.data.fill_(self.weight_init)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def batch_norm_affine(bn: _BatchNorm, start: int = 0,
                      length: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    r"""The evaluation-mode batch norm as a per-channel affine map
    :math:`y = s x + t` (channels ``start`` to ``start + length``):
    :math:`s = \gamma / \sqrt{\sigma^2 + \epsilon}`,
    :math:`t = \beta - s \mu`."""
    end = bn.num_features if length is None else start + length
    inv = torch.rsqrt(bn.running_var[start:end] + bn.eps)
    scale = inv if bn.weight is None else bn.weight[start:end] * inv
    shift = -bn.running_mean[start:end] * scale
    if bn.bias is not None:
        shift = shift + bn.bias[start:end]
    return scale, shift


def fold_batch_norm(weight: Tensor, bias: Optional[Tensor], bn: _BatchNorm, start: int = 0,
                    length: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """The weight and bias of a convolution followed by an evaluation-mode
    batch norm (channels ``start`` to ``start + length`` of ``bn``), as one
    convolution."""
    scale, shift = batch_norm_affine(bn, start, length)
    w = weight * scale.view(-1, *([1] * (weight.dim() - 1)))
    b = shift if bias is None else torch.addcmul(shift, bias, scale)
    return w, b
