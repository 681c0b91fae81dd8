"""The joint embedding of GE-CN (eq. 1)."""
import torch
from torch import Tensor
from torch.nn import Linear, Module, Parameter


class JointEmbedding(Module):
    r"""Joint embedding with a learnable positional embedding (eq. 1 of the
    GE-CN paper):

    .. math::
        \psi^{(0)}_t = \mathrm{Lin}(X_t) + PE, \qquad PE \in \mathbb{R}^{V \times D}

    the same linear map for every joint and frame, plus one learnable vector
    per joint, so that joints stay distinguishable after the permutation-
    invariant graph layers.

    Args:
        in_channels (int): Input channels :math:`C` per joint (e.g. 3 for
            x, y, z or x, y, confidence).
        out_channels (int): Embedding size :math:`D`.
        num_nodes (int): Number of joints :math:`V`.

    Shapes:
        - **input:** :math:`(*, V, C)`
        - **output:** :math:`(*, V, D)`
    """

    def __init__(self, in_channels: int, out_channels: int, num_nodes: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_nodes = num_nodes
        self.lin = Linear(in_channels, out_channels)
        self.pos_embedding = Parameter(torch.empty(num_nodes, out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        torch.nn.init.normal_(self.pos_embedding)  # as the reference (randn)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin(x) + self.pos_embedding

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"num_nodes={self.num_nodes})")
