"""What every topogcn model takes and gives: the input check and the
latent output of ``encode``."""
from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class LatentOutput(NamedTuple):
    """What :meth:`GECN.encode` returns."""
    z: Tensor  #: the latent code (a sample while training, :math:`\mu` in eval)
    mu: Tensor  #: the mean :math:`\mu`
    logvar: Tensor  #: the log-variance :math:`\log \sigma^2`


def check_input(x: Tensor, num_nodes: int, in_channels: int, name: str) -> None:
    """Raise a :class:`ValueError` naming the expected and given shapes unless
    ``x`` is ``[N, M, T, V, C]`` with the model's ``V`` and ``C``."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name}: expected a tensor [N, M, T, V, C], got {type(x).__name__}")
    if x.dim() != 5 or x.size(3) != num_nodes or x.size(4) != in_channels:
        raise ValueError(
            f"{name}: expected input of shape [N, M, T, V={num_nodes}, C={in_channels}] "
            f"(batch, persons, frames, joints, channels), got {list(x.shape)}")
