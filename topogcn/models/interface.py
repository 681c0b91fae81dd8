"""The model contract: what the engine needs of a model, declared.

Every registered model (:func:`topogcn.models.create_model`) is built as
``factory(num_classes=K, skeleton=..., in_channels=C, num_person=M,
**model.kwargs)`` and is a :class:`SkeletonModel`: clips ``[N, M, T, V, C]``
in, logits ``[N, K]`` out.  A model that is also a :class:`LatentModel`
(GE-CN, its baseline, ST-GCN) has a latent head: the engine trains it with
the latent MMD loss on ``encode(x).z``, and analysis draws the t-SNE of
``z``; any other model is trained with the label-smoothed cross-entropy on
its logits, and analysis uses the logits as its representation.  The
contract is tested over the whole registry (``tests/models/test_contract.py``).
"""
from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

from torch import Tensor
from torch.nn import Module


class LatentOutput(NamedTuple):
    """What :meth:`GECN.encode` returns."""
    z: Tensor  #: the latent code (a sample while training, :math:`\mu` in eval)
    mu: Tensor  #: the mean :math:`\mu`
    logvar: Tensor  #: the log-variance :math:`\log \sigma^2`


@runtime_checkable
class SkeletonModel(Protocol):
    """A classifier of skeleton clips: ``model(x)`` maps ``[N, M, T, V, C]``
    to logits ``[N, num_classes]``."""

    num_classes: int

    def __call__(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class LatentModel(SkeletonModel, Protocol):
    """A :class:`SkeletonModel` with a latent head: ``encode(x)`` gives a
    :class:`LatentOutput` (``z`` ``[N, latent_dim]``, ``mu``, ``logvar``) and
    ``classifier(z)`` the logits, so that ``model(x) ==
    classifier(encode(x).z)``.  ``noise_ratio`` (optional) scales the latent
    noise in training."""

    latent_dim: int
    classifier: Module

    def encode(self, x: Tensor) -> LatentOutput: ...


def has_latent_head(model: Module) -> bool:
    """Whether ``model`` follows :class:`LatentModel` (the engine then adds
    the latent loss)."""
    return isinstance(model, LatentModel)


def check_input(x: Tensor, num_nodes: int, in_channels: int, name: str) -> None:
    """Raise a :class:`ValueError` naming the expected and given shapes unless
    ``x`` is ``[N, M, T, V, C]`` with the model's ``V`` and ``C``."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name}: expected a tensor [N, M, T, V, C], got {type(x).__name__}")
    if x.dim() != 5 or x.size(3) != num_nodes or x.size(4) != in_channels:
        raise ValueError(
            f"{name}: expected input of shape [N, M, T, V={num_nodes}, C={in_channels}] "
            f"(batch, persons, frames, joints, channels), got {list(x.shape)}")
