"""Models of mmdfkd: detection backbones and necks, classifiers, distillation parts."""
from .backbones import ViT  # noqa: F401
from .classifiers import ClsDataPreprocessor, TimmClassifier  # noqa: F401
from .layers import LN2d  # noqa: F401
from .necks import SimpleFPN  # noqa: F401
from .connectors import ConvConnector, LinearConnector  # noqa: F401
from .losses import (AttentionKDLoss, DenseHeadKDLoss, FeatureKDLoss, KLDivLoss,  # noqa: F401
                     PseudoLabelCELoss, PseudoLabelDetLoss)
from .recorders import ModuleRecorder  # noqa: F401
from .augment import DifferentiableAugment  # noqa: F401
from .generators import (BaseGenerator, ConvGenerator, LayoutSampler, PixelBankGenerator,  # noqa: F401
                         TransformerGenerator)
from .priors import (AdversarialPrior, AttentionConsistencyPrior, BasePrior, ClsTaskPrior, ConfidencePrior,  # noqa: F401
                     DetTaskPrior, L2Prior, NormStatsPrior, PatchSimilarityEntropyPrior, SynthesisContext, TVPrior)
from .distiller import DataFreeDistiller  # noqa: F401
