"""What GE-CN learned about the joints: shared topologies and attention."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from topogcn.skeleton import Skeleton
from topogcn.skeleton.layout import rest_pose, tree_layout


def learned_topology(model: torch.nn.Module) -> List[np.ndarray]:
    """The learned shared topology :math:`\\ddot{A}` ``[H, V, V]`` (indexed
    ``[head, target, source]``) of every S-GC block; empty for models
    without one."""
    out = []
    for block in getattr(model, "blocks", []):
        conv = getattr(block, "gcn", None)
        if conv is not None and hasattr(conv, "topology"):
            out.append(conv.topology.detach().cpu().numpy().copy())
    return out


@torch.no_grad()
def mean_attention(model: torch.nn.Module, dataset, batch_size: int = 32,
                   max_samples: Optional[int] = 256, by_class: bool = False
                   ) -> Dict[str, List[np.ndarray]]:
    """The S-GC attention :math:`\\alpha` of every block and head averaged
    over samples, persons and frames, as dense ``[H, V, V]`` matrices
    (``[head, target, source]``).  Key ``"all"``, and one key per class
    label with ``by_class=True``."""
    if not hasattr(model, "attention_maps"):
        return {}
    model.eval()
    V = model.num_nodes
    n = len(dataset) if max_samples is None else min(max_samples, len(dataset))
    sums: Dict[str, List[np.ndarray]] = {}
    counts: Dict[str, int] = {}
    loader = DataLoader(torch.utils.data.Subset(dataset, range(n)), batch_size=batch_size)
    for x, y in loader:
        maps = model.attention_maps(x)
        M = x.size(1)
        groups = [("all", torch.ones_like(y, dtype=torch.bool))]
        if by_class:
            groups += [(str(int(c)), y == c) for c in y.unique()]
        for key, sel in groups:
            sel_pm = sel.repeat_interleave(M)
            acc = sums.setdefault(key, [np.zeros((a.size(-1), V, V)) for _, a in maps])
            for b, (ei, alpha) in enumerate(maps):
                mean = alpha[sel_pm].sum(dim=(0, 1)) / alpha.size(1)  # [E, H] summed over samples
                dense = torch.zeros(alpha.size(-1), V * V, dtype=mean.dtype)
                dense.index_add_(1, ei[1] * V + ei[0], mean.t())
                acc[b] += dense.view(-1, V, V).numpy()
            counts[key] = counts.get(key, 0) + int(sel_pm.sum())
    return {k: [m / max(1, counts[k]) for m in v] for k, v in sums.items()}


def strongest_links(matrices: List[np.ndarray], top_k: int) -> List[Tuple[int, int, float]]:
    """The ``top_k`` strongest off-diagonal links ``(target, source, weight)``
    of the mean absolute value of ``[H, V, V]`` matrices over blocks and
    heads."""
    if not matrices:
        return []
    mean = np.mean([np.abs(m).mean(0) for m in matrices], axis=0)
    np.fill_diagonal(mean, 0)
    flat = np.argsort(-mean, axis=None)[:top_k]
    V = mean.shape[0]
    return [(int(i // V), int(i % V), float(mean.flat[i])) for i in flat if mean.flat[i] > 0]


def joint_positions(skeleton: Skeleton, dataset=None, max_clips: int = 200) -> np.ndarray:
    """2-D joint positions for pictures: the mean pose of (up to
    ``max_clips``) clips of ``dataset`` seen from the front (x right, y up;
    pixel coordinates of OpenPose-style data are flipped), else the
    skeleton's rest pose or tree layout."""
    if dataset is not None and len(dataset) > 0:
        poses = []
        for i in range(min(max_clips, len(dataset))):
            clip = dataset.clip_data(i)[0]  # first person [T, V, C]
            poses.append(clip[..., :2].mean(0))
        pos = torch.stack(poses).mean(0).numpy()
        spread = pos.max(0) - pos.min(0)
        if np.all(spread > 1e-6):
            pos = pos - pos.mean(0)
            if pos[skeleton.center, 1] < pos[:, 1].mean() and skeleton.name.startswith(
                    ("openpose", "miga", "coco")):
                pos[:, 1] = -pos[:, 1]  # image rows grow downwards
            return pos.astype(np.float32)
    rest = rest_pose(skeleton)
    if np.ptp(rest[:, 0]) > 0 and np.ptp(rest[:, 1]) > 0:
        return rest[:, :2]
    return tree_layout(skeleton)
