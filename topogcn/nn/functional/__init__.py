"""The kernels behind topogcn's layers, each tested against the plain
formula it computes (``tests/nn/functional``)."""
from topogcn.nn.functional.aggregation import attention_head_aggregation, head_aggregation
from topogcn.nn.functional.sgc import dense_sgc, dense_sgc_inference, project_queries_keys
from topogcn.nn.functional.tuning import TUNING, Tuning

__all__ = ["dense_sgc", "dense_sgc_inference", "project_queries_keys", "head_aggregation",
           "attention_head_aggregation", "TUNING", "Tuning"]
