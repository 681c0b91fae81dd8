import math
import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.conv import MessagePassing


class PartitionGraphConv(MessagePassing):
    r"""The spatial graph convolution of ST-GCN (`"Spatial Temporal Graph
    Convolutional Networks for Skeleton-Based Action Recognition"
    <https://arxiv.org/abs/1801.07455>`_), with a partition of the
    neighbourhood into :math:`K` subsets and a learnable importance per edge
    and subset:

    .. math::
        \mathbf{x}_i' = \sum_{k=1}^{K} \sum_{j \in \mathcal{N}(i)}
        (M_k \odot A_k)_{ij} \, \mathbf{x}_j \mathbf{W}_k + \mathbf{b}

    The partition matrices :math:`A_k` come from a skeleton (e.g.
    :meth:`~topogcn.skeleton.Skeleton.spatial_partition`: self, centripetal,
    centrifugal) and are stored as per-edge weights of the template graph, so
    the cost grows with the number of edges.  The leading dimensions of
    ``x`` are batched over.  Its edges are the non-zero pairs of the
    partition, sorted by target (the ``edge_index`` buffer): an edge mask of
    :mod:`torch_geometric.explain` has one entry per edge in that order.

    Args:
        in_channels (int): Input channels :math:`C_{in}`.
        out_channels (int): Output channels :math:`C_{out}`.
        partition (Tensor): :math:`[K, V, V]` matrices indexed
            ``[k, target, source]``.
        edge_importance (bool, optional): Learn :math:`M_k` (initialised to
            ones). (default: :obj:`True`)
        bias (bool, optional): Learn :math:`\mathbf{b}`. (default: :obj:`True`)

    Shapes:
        - **input:** :math:`(*, V, C_{in})`
        - **output:** :math:`(*, V, C_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, partition: Tensor,
                 edge_importance: bool = True, bias: bool = True) -> None:
        super().__init__(aggr="add", node_dim=0)
        if partition.dim() != 3 or partition.size(1) != partition.size(2):
            raise ValueError(f"PartitionGraphConv: partition must be [K, V, V], got "
                             f"{list(partition.shape)}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_subsets, self.num_nodes = partition.size(0), partition.size(1)
        tgt, src = (partition.abs().sum(0) > 0).nonzero(as_tuple=True)  # sorted by target
        self.register_buffer("edge_index", torch.stack([src, tgt]), persistent=False)
        self.register_buffer("edge_weight", partition[:, tgt, src].t().contiguous())  # [E, K]
        self.importance = Parameter(torch.ones_like(self.edge_weight)) if edge_importance \
            else None
        self.weight = Parameter(torch.empty(in_channels, self.num_subsets * out_channels))
        self.bias = Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        torch.nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.importance is not None:
            torch.nn.init.ones_(self.importance)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        V, C = self.num_nodes, self.in_channels
        if x.dim() < 2 or x.size(-2) != V or x.size(-1) != C:
            raise ValueError(f"PartitionGraphConv: expected x of shape [..., {V}, {C}], got "
                             f"{list(x.shape)}")
        lead = x.shape[:-2]
        xt = x.reshape(-1, V, C).transpose(0, 1)  # [V, B, C_in]
        xw = (xt @ self.weight).view(V, -1, self.num_subsets, self.out_channels)
        w = self.edge_weight if self.importance is None else self.edge_weight * self.importance
        out = self.propagate(self.edge_index, x=xw, w=w, size=(V, V))
        if self.bias is not None:
            out = out + self.bias
        return out.transpose(0, 1).reshape(*lead, V, self.out_channels)

    def message(self, x_j: Tensor, w: Tensor) -> Tensor:
        # x_j [E, B, K, C_out], w [E, K] -> [E, B, C_out]
        return torch.matmul(w.unsqueeze(1).unsqueeze(2), x_j).squeeze(-2)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"num_nodes={self.num_nodes}, subsets={self.num_subsets})")
