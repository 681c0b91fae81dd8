"""The latent-space ("MMD") loss of InfoGCN, which GE-CN trains with."""
from __future__ import annotations

from typing import Dict, NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module


class LossTerms(NamedTuple):
    loss: Tensor  #: the weighted total
    cls: Tensor  #: label-smoothed cross-entropy
    mmd: Tensor  #: MSE between class means of z and their priors
    z_mean: Tensor  #: L2 norm of the batch mean of z

    def as_dict(self) -> Dict[str, Tensor]:
        return self._asdict()


class LatentMMDLoss(Module):
    r"""The training loss of GE-CN, "borrowed from InfoGCN":

    .. math::
        \mathcal{L} = \mathrm{CE}_{\epsilon}(\hat{y}, y)
        + \lambda_2 \, \frac{1}{|\mathcal{C}_B| D} \sum_{c \in \mathcal{C}_B}
          \lVert \bar{z}_c - p_c \rVert_2^2
        + \lambda_1 \, \Big\lVert \frac{1}{B} \sum_{b} z_b \Big\rVert_2

    where :math:`\mathrm{CE}_\epsilon` is the cross-entropy with label
    smoothing :math:`\epsilon`, :math:`\mathcal{C}_B` the classes present in
    the batch, :math:`\bar{z}_c` the mean latent of the samples of class
    :math:`c` in the batch and :math:`p_c` a fixed class prior: the rows of an
    orthogonally initialised :math:`[K, D]` matrix scaled by ``prior_gain``
    (seeded by ``prior_seed``, saved in the ``state_dict``).

    Defaults are the reference's: :math:`\epsilon = 0.1`,
    :math:`\lambda_2 = 0.1` (``mmd_weight``), :math:`\lambda_1 = 10^{-4}`
    (``z_mean_weight``), gain 3.

    It works with any model that provides ``encode(x).z`` and a
    ``classifier``; see :meth:`from_model`.

    Args:
        num_classes (int): Number of classes :math:`K`.
        latent_dim (int): Size :math:`D` of :math:`z`.
        label_smoothing (float, optional): :math:`\epsilon`. (default: :obj:`0.1`)
        mmd_weight (float, optional): :math:`\lambda_2`. (default: :obj:`0.1`)
        z_mean_weight (float, optional): :math:`\lambda_1`. (default: :obj:`1e-4`)
        prior_gain (float, optional): Gain of the orthogonal priors.
            (default: :obj:`3.0`)
        prior_seed (int, optional): Seed of the priors. (default: :obj:`0`)
        class_weight (Tensor, optional): Weights :math:`[K]` of the
            cross-entropy's classes (long-tailed data; see
            :func:`~topogcn.engine.data.class_balance_weights`); not saved
            in the ``state_dict``. (default: :obj:`None`, unweighted)

    Shapes:
        - **input:** logits :math:`(B, K)`, latents :math:`(B, D)`, labels
          :math:`(B,)`
        - **output:** :class:`LossTerms` of scalars (``.loss`` is the total)
    """

    def __init__(self, num_classes: int, latent_dim: int, label_smoothing: float = 0.1,
                 mmd_weight: float = 0.1, z_mean_weight: float = 1e-4,
                 prior_gain: float = 3.0, prior_seed: int = 0,
                 class_weight: Optional[Tensor] = None) -> None:
        super().__init__()
        self.num_classes, self.latent_dim = num_classes, latent_dim
        self.label_smoothing = label_smoothing
        self.mmd_weight, self.z_mean_weight = mmd_weight, z_mean_weight
        prior = torch.empty(num_classes, latent_dim)
        torch.nn.init.orthogonal_(prior, gain=prior_gain,
                                  generator=torch.Generator().manual_seed(prior_seed))
        self.register_buffer("prior", prior)
        if class_weight is not None and class_weight.shape != (num_classes,):
            raise ValueError(f"LatentMMDLoss: class_weight must have shape [{num_classes}], got "
                             f"{list(class_weight.shape)}")
        self.register_buffer("class_weight", class_weight, persistent=False)

    def forward(self, logits: Tensor, z: Tensor, y: Tensor) -> LossTerms:
        if logits.dim() != 2 or logits.size(1) != self.num_classes:
            raise ValueError(f"LatentMMDLoss: expected logits [B, {self.num_classes}], got "
                             f"{list(logits.shape)}")
        if z.dim() != 2 or z.size(1) != self.latent_dim or z.size(0) != logits.size(0):
            raise ValueError(f"LatentMMDLoss: expected z [{logits.size(0)}, {self.latent_dim}], "
                             f"got {list(z.shape)}")
        weight = None if self.class_weight is None else self.class_weight.to(logits.dtype)
        cls = F.cross_entropy(logits, y, weight=weight, label_smoothing=self.label_smoothing)
        onehot = F.one_hot(y, self.num_classes).to(z.dtype)  # [B, K]
        count = onehot.sum(0)  # [K]
        present = count > 0
        class_mean = (onehot.t() @ z) / count.clamp(min=1).unsqueeze(1)  # [K, D]
        diff = (class_mean - self.prior.to(z.dtype)) * present.unsqueeze(1)
        mmd = diff.square().sum() / (present.sum() * self.latent_dim)
        z_mean = torch.linalg.vector_norm(z.mean(0))
        total = cls + self.mmd_weight * mmd + self.z_mean_weight * z_mean
        return LossTerms(total, cls, mmd, z_mean)

    @classmethod
    def from_model(cls, model: Module, **kwargs) -> "LatentMMDLoss":
        """A loss sized for ``model`` (its ``num_classes`` and ``latent_dim``)."""
        return cls(model.num_classes, model.latent_dim, **kwargs)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, latent_dim={self.latent_dim}, "
                f"label_smoothing={self.label_smoothing}, mmd_weight={self.mmd_weight}, "
                f"z_mean_weight={self.z_mean_weight}")
