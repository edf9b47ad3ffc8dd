"""Models of mmdfkd: detection backbones and necks, classifiers, distillation parts."""
from .augment import DifferentiableAugment  # noqa: F401
from .backbones import ViT  # noqa: F401
from .classifiers import ClsDataPreprocessor, TimmClassifier  # noqa: F401
from .connectors import ConvConnector, LinearConnector  # noqa: F401
from .distiller import DataFreeDistiller  # noqa: F401
from .generators import BaseGenerator, ConvGenerator, LayoutSampler, PixelBankGenerator, TransformerGenerator  # noqa: F401
from .layers import ConvStem, LN2d  # noqa: F401
from .losses import AttentionKDLoss, DenseHeadKDLoss, FeatureKDLoss, KLDivLoss, PseudoLabelCELoss, PseudoLabelDetLoss  # noqa: F401
from .natural_mix import NaturalCutMix  # noqa: F401
from .necks import SimpleFPN  # noqa: F401
from .priors import (  # noqa: F401
                     AdversarialPrior,
                     AttentionConsistencyPrior,
                     BasePrior,
                     ClsTaskPrior,
                     ConfidencePrior,
                     DetTaskPrior,
                     L2Prior,
                     NormStatsPrior,
                     PatchSimilarityEntropyPrior,
                     SynthesisContext,
                     TVPrior,
)
from .recorders import ModuleRecorder  # noqa: F401
