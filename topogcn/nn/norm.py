"""Batch normalisation for channels-last skeleton tensors."""
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn import BatchNorm2d
from torch.nn.modules.batchnorm import _BatchNorm

from topogcn.nn.functional.tuning import TUNING


def batch_statistics(x: Tensor, block_elements: int = 1 << 20) -> Tuple[Tensor, Tensor]:
    r"""The per-channel mean and (biased) variance of ``x`` ``[N, C, ...]``
    over all dimensions but the channels, accurate in float32 over millions
    of values: one pass over ``x`` a block of samples at a time (about
    ``block_elements`` values, so that a block's deviations stay in cache),
    summing the deviations :math:`d = x - s` from the first block's mean
    :math:`s` and their squares, each block with cascaded sums:
    :math:`\mu = s + \bar d`, :math:`\sigma^2 = \overline{d^2} - \bar d^2`.
    The shift is at most :math:`\sqrt{b}` standard deviations from the mean
    (:math:`b` blocks), so the subtraction loses no precision worth
    counting."""
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    step = max(1, block_elements // max(1, x[0].numel()))
    buf = torch.empty_like(x[:step])
    shift = x[:step].mean(dims).view(shape)
    sums, squares = [], []
    for start in range(0, x.size(0), step):
        d = torch.sub(x[start:start + step], shift, out=buf[:min(step, x.size(0) - start)])
        sums.append(d.sum(dims))
        squares.append(d.square_().sum(dims))
    m = x.numel() // x.size(1)
    mean_d = torch.stack(sums).sum(0) / m
    var = (torch.stack(squares).sum(0) / m - mean_d.square()).clamp_min_(0)
    return shift.view(-1) + mean_d, var


class _AccurateBatchNorm(torch.autograd.Function):
    """Training batch norm of ``x`` ``[N, C, T, V]`` with the statistics of
    :func:`batch_statistics`; the backward is PyTorch's batch-norm backward
    given these statistics (which differentiates through them).  Returns
    the output and the batch mean and variance."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, eps: float):
        mean, var = batch_statistics(x, TUNING.statistics_block_elements)
        invstd = torch.rsqrt(var + eps)
        # PyTorch's evaluation kernel, given these statistics
        out = torch.batch_norm(x, weight, bias, mean, var, False, 0.0, eps, False)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor, _mean, _var):
        x, weight, mean, invstd = ctx.saved_tensors
        grad_x, grad_weight, grad_bias = torch.ops.aten.native_batch_norm_backward(
            grad, x, weight, None, None, mean, invstd, True, 0.0,
            list(ctx.needs_input_grad[:3]))
        return grad_x, grad_weight, grad_bias, None


class AccurateBatchNorm2d(BatchNorm2d):
    r""":class:`torch.nn.BatchNorm2d` whose training statistics of a float32
    ``channels_last`` CPU tensor can be taken by :func:`batch_statistics`
    (sums of deviations from a shift near the mean, cascaded, one block of
    samples at a time).  PyTorch's channels-last CPU kernel (topogcn's
    layout) accumulates them row by row in float32, which over the millions
    of rows of a training batch leaves them far less accurate, and a training
    step's float32 gradients further from float64 than the reference
    formulation's.  The output is PyTorch's evaluation kernel and the
    backward pass PyTorch's training backward, given these statistics.
    Both effects and the cost are measured on the Fidelity page ("Where
    topogcn is knowingly different").

    It is off unless ``topogcn.nn.functional.TUNING.accurate_batch_norm`` is
    set (a training run sets it from ``trainer.accurate_batch_norm``);
    every other case (evaluation, contiguous or other-dtype input, other
    devices, tracing and compilation) is :class:`torch.nn.BatchNorm2d`
    itself."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        if not (TUNING.accurate_batch_norm and self.training and self.affine
                and self.track_running_stats and self.momentum is not None
                and x.dim() == 4 and x.dtype == torch.float32
                and x.device.type == "cpu" and not x.is_contiguous()
                and x.is_contiguous(memory_format=torch.channels_last)
                and x.numel() > x.size(1)
                and not torch.compiler.is_compiling() and not torch.jit.is_tracing()):
            return super().forward(x)
        out, mean, var = _AccurateBatchNorm.apply(x, self.weight, self.bias, self.eps)
        with torch.no_grad():
            m = x.numel() // x.size(1)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * (m / (m - 1)), self.momentum)
            self.num_batches_tracked.add_(1)
        return out


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
