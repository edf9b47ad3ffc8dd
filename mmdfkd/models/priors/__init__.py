"""Priors: losses on synthetic images that the generator minimises."""
from .adversarial import AdversarialPrior
from .attention import AttentionConsistencyPrior
from .base import BasePrior, SynthesisContext
from .cls_task import ClsTaskPrior
from .confidence import ConfidencePrior
from .det_task import DetTaskPrior
from .image import L2Prior, TVPrior
from .norm_stats import NormStatsPrior
from .patch_similarity import PatchSimilarityEntropyPrior

__all__ = [
    'AdversarialPrior', 'AttentionConsistencyPrior', 'BasePrior', 'ClsTaskPrior', 'ConfidencePrior', 'DetTaskPrior',
    'L2Prior',
    'NormStatsPrior', 'PatchSimilarityEntropyPrior', 'SynthesisContext', 'TVPrior'
]
