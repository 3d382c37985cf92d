"""bnnfer: facial emotion recognition that says how sure it is.

The public API, re-exported (see docs/api.md for one line on each):
data (`load_ferplus`, `FerPlusSplit`, human statistics), networks and the four methods
(`FaceCNN`, `NetworkConfig`, `build_method`; `from_module` for any torch module), MC
inference (`mc_predict`), checkpoints (`save_checkpoint`, `load_method`), training
(`TrainConfig`, `fit`), the class prior as a choice (`parse_prior`, `reweight`,
`estimate_prior`, `read_with_prior`) and the metrics module.
"""

from .allocator import keep_freed_memory
from .constants import EMOTIONS, IMAGE_SIZE, METHOD_COLORS, METHODS, NUM_CLASSES
from .data.ferplus import available_splits, describe, load_ferplus, resolve_data_dir
from .data.split import FerPlusError, FerPlusSplit
from .data.targets import FerPlusTargets
from .data.votes import human_statistics, plurality_label, vote_distribution, vote_entropy
from .evaluation import metrics
from .evaluation.priors import PriorChoice, estimate_prior, parse_prior, read_with_prior, reweight
from .inference.mc import describe_device, mc_predict, resolve_precision, select_device
from .models.checkpoints import (
    CheckpointError,
    load_method,
    load_networks,
    save_checkpoint,
    verify_manifest,
    write_manifest,
)
from .models.layers import DropConnectConv2d, DropConnectLinear, SampledDropout
from .models.methods import Classical, DeepEnsemble, MCDropConnect, MCDropout, Method, build_method
from .models.networks import FaceCNN, NetworkConfig
from .models.wrappers import from_module
from .training.train import TrainConfig, fit

__version__ = "0.1.0"

__all__ = [
    "EMOTIONS",
    "IMAGE_SIZE",
    "METHODS",
    "METHOD_COLORS",
    "NUM_CLASSES",
    "CheckpointError",
    "Classical",
    "DeepEnsemble",
    "DropConnectConv2d",
    "DropConnectLinear",
    "FaceCNN",
    "FerPlusError",
    "FerPlusSplit",
    "FerPlusTargets",
    "MCDropConnect",
    "MCDropout",
    "Method",
    "NetworkConfig",
    "PriorChoice",
    "SampledDropout",
    "TrainConfig",
    "available_splits",
    "build_method",
    "describe",
    "describe_device",
    "estimate_prior",
    "fit",
    "from_module",
    "human_statistics",
    "keep_freed_memory",
    "load_ferplus",
    "load_method",
    "load_networks",
    "mc_predict",
    "metrics",
    "parse_prior",
    "plurality_label",
    "read_with_prior",
    "resolve_data_dir",
    "resolve_precision",
    "reweight",
    "save_checkpoint",
    "select_device",
    "verify_manifest",
    "vote_distribution",
    "vote_entropy",
    "write_manifest",
]
