"""Batch normalisation for channels-last skeleton tensors."""
import torch
from torch import Tensor
from torch.nn import BatchNorm2d


class ChannelsLastBatchNorm(BatchNorm2d):
    r"""Batch normalisation over the last dimension of a :math:`(N, T, V, C)`
    tensor, computed in place of layout: the tensor is viewed as
    :math:`(N, C, T, V)` in ``channels_last`` memory format, which
    :class:`torch.nn.BatchNorm2d` handles without a copy.

    In evaluation mode (running statistics) it is one per-channel affine map
    over the contiguous last dimension.

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
        if not self.training and self.track_running_stats:
            # evaluation: one affine map over the contiguous channels
            inv = torch.rsqrt(self.running_var + self.eps)
            scale = inv if self.weight is None else self.weight * inv
            shift = -self.running_mean * scale
            if self.bias is not None:
                shift = shift + self.bias
            return torch.addcmul(shift, x, scale)
        return super().forward(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
