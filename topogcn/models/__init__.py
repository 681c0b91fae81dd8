"""Models composed from :mod:`topogcn.nn`: GE-CN, its baseline, ST-GCN, and the loss."""
from topogcn.models.gecn import GECN
from topogcn.models.gecn_frames import FrameSpottingGECN
from topogcn.models.interface import LatentModel, LatentOutput, SkeletonModel, has_latent_head
from topogcn.models.losses import LatentMMDLoss, LossTerms
from topogcn.models.registry import create_model, list_models, register_model
from topogcn.models.stgcn import STGCN

__all__ = [
    "GECN",
    "FrameSpottingGECN",
    "STGCN",
    "LatentOutput",
    "SkeletonModel",
    "LatentModel",
    "has_latent_head",
    "LatentMMDLoss",
    "LossTerms",
    "create_model",
    "list_models",
    "register_model",
]
