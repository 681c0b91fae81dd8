"""Analysis of trained models: latent t-SNE, learned topology and attention,
skeleton pictures, confusion matrices, and an HTML report."""
from topogcn.analysis.latent import extract_latents, silhouette, tsne_embedding
from topogcn.analysis.report import Report, analyze
from topogcn.analysis.topology import (
    joint_positions, learned_topology, mean_attention, strongest_links,
)

__all__ = [
    "extract_latents", "tsne_embedding", "silhouette", "learned_topology", "mean_attention",
    "strongest_links", "joint_positions", "analyze", "Report",
]
