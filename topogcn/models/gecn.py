"""The GE-CN model (and its baseline without self-attention)."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import Tensor
from torch.nn import BatchNorm1d, Dropout, Linear, Module, ModuleList, ReLU, Sequential

from topogcn.models.interface import LatentOutput, check_input
from topogcn.nn import EncoderBlock, JointEmbedding
from topogcn.nn.functional.tuning import TUNING
from topogcn.skeleton import Skeleton, get_skeleton
from topogcn.utils.tracing import is_tracing

PAPER_CHANNELS = (64, 64, 64, 128, 128, 128, 256, 256, 256)
PAPER_STRIDES = (1, 1, 1, 2, 1, 1, 2, 1, 1)
#: the widest layer and the most blocks a GE-CN may have (a configuration or
#: checkpoint asking for more is refused before anything is allocated)
MAX_WIDTH, MAX_BLOCKS = 4096, 64
#: ``checkpoint="auto"`` recomputes activations for skeletons larger than this
CHECKPOINT_MIN_JOINTS = 64


def resolve_edges(skeleton: Skeleton, edges: Union[str, int]) -> Optional[Tensor]:
    """``"complete"`` -> :obj:`None` (the dense complete graph), ``"bones"``
    -> the bones with self loops, an integer ``k`` -> the ``k``-hop edges."""
    if edges == "complete":
        return None
    if edges == "bones":
        return skeleton.k_hop_edge_index(1)
    if isinstance(edges, int) and not isinstance(edges, bool) and edges >= 1:
        return skeleton.k_hop_edge_index(edges)
    raise ValueError(f"edges must be 'complete', 'bones' or a positive integer k (k-hop), "
                     f"got {edges!r}")


#: the reference clamps the latent noise's standard deviation at this
STD_MAX = 100.0
#: exponents above this (``exp`` = 5.5e34, far above :data:`STD_MAX`) are
#: clamped before the exponential, which would overflow from 88.7 on
_EXP_MAX = 80.0


def latent_std(logvar: Tensor, noise_ratio: float) -> Tensor:
    r"""The reference's noise scale
    :math:`\min(\exp(\rho \log\sigma^2), 100)`, with the same values
    and gradients wherever the reference's are finite.  The reference
    computes the exponential first: where :math:`\rho \log\sigma^2 >
    88.7` it is ``inf``, the clamp's zero gradient times ``inf`` is NaN, and
    one diverging step (the official recipe at its first epoch's
    learning rate on the synthetic data: :math:`\log\sigma^2` up to 650)
    turns every weight into NaN.  Here the exponent is clamped at 80 first
    (:math:`e^{80} > 100`, so the value is unchanged and the gradient there
    is zero, as the reference's where it is finite).  The training loop
    stops such a run itself, naming the cause
    (:class:`~topogcn.engine.ClassificationTask`)."""
    return (logvar * noise_ratio).clamp(max=_EXP_MAX).exp().clamp(max=STD_MAX)


class GECN(Module):
    r"""GE-CN, the graph-encoding convolutional network of `"Representation
    Learning for Topology-adaptive Micro-gesture Recognition and Analysis"
    <https://ceur-ws.org/Vol-3522/>`_ (Shah, Chen, Zhao, 2023).

    .. math::
        \psi^{(0)} = \mathrm{Lin}(X) + PE, \quad
        \psi^{(l+1)} = \text{block}_l(\psi^{(l)}), \quad
        h = \operatorname{mean}_{m,t,v} \psi^{(L)}, \quad
        z = \mu(h) + \epsilon \odot e^{\rho \log\sigma^2(h)}, \quad
        \hat{y} = \mathbf{W}_c z

    with a batch norm of the embedded input over (person, joint, channel), the encoder blocks of
    :class:`~topogcn.nn.EncoderBlock` (S-GC then MS-TC) with the reference
    widths and temporal strides, global average pooling over frames, joints
    and persons, a ``Linear + ReLU`` layer, the reparameterised latent
    (:math:`\epsilon \sim \mathcal{N}(0, I)` while training, :math:`z = \mu`
    in eval; :math:`\rho` is ``noise_ratio``) and a linear classifier.

    Parameters with the reference configuration (9 blocks, 3 heads, complete
    graph, 3 input channels): **1,554,119** for ``ntu25`` with 2 persons and
    60 classes (the InfoGCN reference: 1,556,807, -0.17%: the per-head
    biases of the reference's :math:`W^m` are one summed bias here, which
    computes the same function), **1,539,868** for SMG (``ntu25``, 1 person,
    17 classes) and **2,055,115** for iMiGUE (``openpose137``, 1 person, 32 classes).

    Args:
        num_classes (int): Number of classes.
        skeleton (Skeleton or str): The skeleton, or its registry name or
            file path.
        in_channels (int, optional): Channels per joint. (default: :obj:`3`)
        num_person (int, optional): Persons :math:`M` per sample.
            (default: :obj:`2`)
        attention (bool, optional): Use S-GC's self-attention; :obj:`False`
            is the paper's baseline. (default: :obj:`True`)
        channels (sequence of int, optional): Width of every encoder block.
            (default: the reference's 64, 64, 64, 128, 128, 128, 256, 256, 256)
        strides (sequence of int, optional): Temporal stride of every block.
            (default: 1, 1, 1, 2, 1, 1, 2, 1, 1)
        heads (int, optional): S-GC heads. (default: :obj:`3`)
        edges (str or int, optional): Edge set of S-GC: :obj:`"complete"`
            (the paper), :obj:`"bones"` or a hop count :math:`k`.
            (default: :obj:`"complete"`)
        noise_ratio (float, optional): :math:`\rho`. (default: :obj:`0.1`)
        dropout (float, optional): Dropout before the latent layers.
            (default: :obj:`0.`)
        data_bn (bool, optional): Batch norm of the embedded input over
            (person, joint, channel), as the reference. (default: :obj:`True`)
        checkpoint (bool or str, optional): Activation checkpointing in
            every block while training (:class:`~topogcn.nn.EncoderBlock`):
            the S-GC attention maps and the MS-TC branches are recomputed in
            backward instead of stored.  Same results, less memory, some
            recomputation.  :obj:`"auto"` turns it on for skeletons of more
            than 64 joints, where the :math:`V^2` attention maps dominate the
            memory and their recomputation is cheap (measured in
            ``benchmarks/bench_model.py``, see the benchmarks page).
            (default: :obj:`"auto"`)
        **conv_kwargs (optional): Further arguments of
            :class:`~topogcn.nn.SGConv` (``backend``, ``topology_init``, ...).

    Shapes:
        - **input:** :math:`(N, M, T, V, C)`
        - **output:** logits :math:`(N, \text{num_classes})`
    """

    def __init__(
        self,
        num_classes: int,
        skeleton: Union[Skeleton, str],
        in_channels: int = 3,
        num_person: int = 2,
        attention: bool = True,
        channels: Sequence[int] = PAPER_CHANNELS,
        strides: Sequence[int] = PAPER_STRIDES,
        heads: int = 3,
        edges: Union[str, int] = "complete",
        noise_ratio: float = 0.1,
        dropout: float = 0.0,
        data_bn: bool = True,
        checkpoint: Union[bool, str] = "auto",
        **conv_kwargs,
    ) -> None:
        super().__init__()
        skeleton = get_skeleton(skeleton)
        sizes = {"channels": list(channels), "in_channels": [in_channels],
                 "num_person": [num_person], "heads": [heads]}
        for name, values in sizes.items():  # checked before anything is allocated
            if len(channels) > MAX_BLOCKS or not all(
                    isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_WIDTH
                    for v in values):
                raise ValueError(f"GECN: {name} must be whole numbers from 1 to {MAX_WIDTH} "
                                 f"(at most {MAX_BLOCKS} blocks), got {values}")
        if len(channels) != len(strides) or not channels:
            raise ValueError(f"GECN: channels ({len(channels)}) and strides ({len(strides)}) "
                             f"must be non-empty and of the same length")
        if num_classes < 1:
            raise ValueError(f"GECN: num_classes must be positive, got {num_classes}")
        self.skeleton = skeleton
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.num_person = num_person
        self.num_nodes = V = skeleton.num_nodes
        self.attention = attention
        self.noise_ratio = noise_ratio
        self.edges = edges
        if checkpoint == "auto":
            checkpoint = V > CHECKPOINT_MIN_JOINTS
        elif not isinstance(checkpoint, bool):
            raise ValueError(f"GECN: checkpoint must be true, false or 'auto', got {checkpoint!r}")
        self.checkpoint = checkpoint
        #: encode samples in chunks (set by :meth:`fuse_`: inference only)
        self.chunked = False
        edge_index = resolve_edges(skeleton, edges)
        if edge_index is None:
            self.edge_index: Optional[Tensor] = None
        else:
            self.register_buffer("edge_index", edge_index, persistent=False)

        self.embedding = JointEmbedding(in_channels, channels[0], V)
        self.data_bn = BatchNorm1d(num_person * V * channels[0]) if data_bn else None
        blocks, c_in = [], channels[0]
        for i, (c, s) in enumerate(zip(channels, strides)):
            blocks.append(EncoderBlock(c_in, c, V, stride=s, heads=heads, attention=attention,
                                       checkpoint=checkpoint, **conv_kwargs))
            c_in = c
        self.blocks = ModuleList(blocks)
        self.latent_dim = d = channels[-1]
        self.fc = Sequential(Linear(d, d), ReLU(), Dropout(dropout))
        self.fc_mu = Linear(d, d)
        self.fc_logvar = Linear(d, d)
        self.classifier = Linear(d, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Every child initialises itself (its own ``reset_parameters``;
        no child is reset twice); then the model's documented overrides, as
        the reference: Xavier-uniform (ReLU gain) weights of the three
        latent layers and :math:`\mathcal{N}(0, 2/K)` classifier weights."""
        self.embedding.reset_parameters()
        if self.data_bn is not None:
            self.data_bn.reset_parameters()
        for block in self.blocks:
            block.reset_parameters()
        gain = torch.nn.init.calculate_gain("relu")
        for lin in (self.fc[0], self.fc_mu, self.fc_logvar):
            lin.reset_parameters()
            torch.nn.init.xavier_uniform_(lin.weight, gain=gain)
        self.classifier.reset_parameters()
        torch.nn.init.normal_(self.classifier.weight, 0, (2.0 / self.num_classes) ** 0.5)

    def _embed(self, x: Tensor) -> Tensor:
        """Checked input ``[N, M, T, V, C]`` -> embedded ``[N*M, T, V, D]``."""
        check_input(x, self.num_nodes, self.in_channels, type(self).__name__)
        N, M, T, V, _ = x.shape
        h = self.embedding(x)  # [N, M, T, V, D]
        if self.data_bn is not None:
            if M != self.num_person:
                raise ValueError(
                    f"{type(self).__name__}: expected {self.num_person} persons (dim 1) for "
                    f"the data batch norm, got input of shape {list(x.shape)}")
            D = h.size(-1)
            h = h.permute(0, 1, 3, 4, 2).reshape(N, M * V * D, T)
            h = self.data_bn(h).view(N, M, V, D, T).permute(0, 1, 4, 2, 3)
        return h.reshape(N * M, T, V, -1).contiguous()  # the blocks work in this layout

    def features(self, x: Tensor) -> Tensor:
        """The pooled encoder output :math:`h` ``[N, C]``.  Once fused for
        inference (:meth:`fuse_`), in chunks of samples
        (``TUNING.inference_chunk_elements`` of
        :mod:`topogcn.nn.functional.tuning`): every activation of a chunk is
        small enough to be recycled by the memory allocator instead of
        page-faulted in afresh."""
        check_input(x, self.num_nodes, self.in_channels, type(self).__name__)
        if not self.chunked or is_tracing():
            return self._features(x)  # (traced: no size-dependent branch)
        N, M, T, V, _ = x.shape
        per_sample = M * T * V * self.blocks[0].in_channels
        step = max(1, TUNING.inference_chunk_elements // max(1, per_sample))
        if step >= N:
            return self._features(x)
        step = -(-N // -(-N // step))  # equal chunks: 32 as 8 + 8 + 8 + 8, not 10 + 10 + 10 + 2
        return torch.cat([self._features(x[i:i + step]) for i in range(0, N, step)])

    def fuse_(self) -> None:
        """For inference (see :func:`topogcn.nn.fuse`): samples encoded in
        chunks (they are independent in evaluation mode)."""
        self.chunked = True

    def _features(self, x: Tensor) -> Tensor:
        N, M = x.shape[:2]
        h = self._embed(x)
        for block in self.blocks:
            h = block(h, self.edge_index)
        return h.mean(dim=(1, 2)).view(N, M, -1).mean(dim=1)

    def frame_features(self, x: Tensor) -> Tensor:
        """The encoder output pooled over joints and persons only, a time
        axis kept: ``[N, C, T_out]``, ``T_out`` the frames after the
        blocks' temporal strides (for frame-level heads such as
        :class:`~topogcn.models.FrameSpottingGECN`)."""
        N, M = x.shape[:2]
        h = self._embed(x)
        for block in self.blocks:
            h = block(h, self.edge_index)
        h = h.mean(dim=2)  # [N*M, T_out, C]
        return h.view(N, M, h.size(1), h.size(2)).mean(dim=1).transpose(1, 2)

    def encode(self, x: Tensor) -> LatentOutput:
        """The latent code ``z`` (``[N, latent_dim]``), with :math:`\\mu` and
        :math:`\\log\\sigma^2`: a sample while training, ``z = mu`` in eval."""
        h = self.fc(self.features(x))
        mu, logvar = self.fc_mu(h), self.fc_logvar(h)
        if self.training:
            z = mu + torch.randn_like(mu) * latent_std(logvar, self.noise_ratio)
        else:
            z = mu
        return LatentOutput(z, mu, logvar)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.encode(x).z)

    def attention_maps(self, x: Tensor):
        """Per block, the S-GC attention ``alpha`` ``[N*M, T_l, E, heads]``
        and its edge index, for analysis."""
        maps = []
        h = self._embed(x)
        for block in self.blocks:
            h, att = block(h, self.edge_index, return_attention_weights=True)
            maps.append(att)
        return maps

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_classes={self.num_classes}, "
                f"skeleton='{self.skeleton.name}', num_person={self.num_person}, "
                f"blocks={len(self.blocks)}, attention={self.attention}, edges={self.edges!r})")
