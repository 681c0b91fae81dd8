"""Batch normalisation for channels-last skeleton tensors."""
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import BatchNorm2d
from torch.nn.modules.batchnorm import _BatchNorm

from topogcn.nn.functional.tuning import TUNING


class _RowBatchNorm(torch.autograd.Function):
    """Training batch norm of the rows of ``x`` ``[M, C]`` given their
    ``mean`` and ``invstd``, with the backward reductions taken as matrix
    products (accurate in float32 over millions of rows)."""

    @staticmethod
    def forward(ctx, x: Tensor, mean: Tensor, invstd: Tensor, weight: Tensor,
                bias: Tensor) -> Tensor:
        scale = weight * invstd
        ctx.save_for_backward(x, mean, invstd, weight)
        return torch.addcmul(bias - mean * scale, x, scale)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, mean, invstd, weight = ctx.saved_tensors
        M = x.size(0)
        grad_bias = grad.sum(0)
        grad_weight = (torch.einsum("mc,mc->c", grad, x) - mean * grad_bias) * invstd
        a = weight * invstd
        coef = -a * invstd * grad_weight / M  # of x
        shift = -a * grad_bias / M - mean * coef
        grad_x = torch.addcmul(torch.addcmul(shift, x, coef), grad, a)
        return grad_x, None, None, grad_weight, grad_bias


class AccurateBatchNorm2d(BatchNorm2d):
    r""":class:`torch.nn.BatchNorm2d` whose training step on a float32
    ``channels_last`` CPU tensor takes its statistics in two passes and its
    backward reductions as matrix products: PyTorch's channels-last CPU
    kernel accumulates them in one float32 pass, which puts a training
    step's float32 gradients further from float64 than the reference
    formulation's.  It costs step time, so it is opt-in (both measured on
    the Fidelity page, "Where topogcn is knowingly different").
    It is on when ``topogcn.nn.functional.TUNING.accurate_batch_norm`` is
    set; every other case (evaluation, contiguous or other-dtype input,
    tracing and compilation) is :class:`torch.nn.BatchNorm2d` itself."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        if not (TUNING.accurate_batch_norm and self.training and self.affine
                and self.track_running_stats and self.momentum is not None
                and x.dim() == 4 and x.dtype == torch.float32
                and x.device.type == "cpu" and not x.is_contiguous()
                and x.is_contiguous(memory_format=torch.channels_last)
                and not torch.compiler.is_compiling() and not torch.jit.is_tracing()):
            return super().forward(x)
        N, C, T, V = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(-1, C)  # a view of the channels-last memory
        with torch.no_grad():
            var, mean = torch.var_mean(rows, dim=0, correction=0)
            m = rows.size(0)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * (m / max(m - 1, 1)), self.momentum)
            self.num_batches_tracked.add_(1)
            invstd = torch.rsqrt(var + self.eps)
        out = _RowBatchNorm.apply(rows, mean, invstd, self.weight, self.bias)
        return out.view(N, T, V, C).permute(0, 3, 1, 2)


class ChannelsLastBatchNorm(AccurateBatchNorm2d):
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
