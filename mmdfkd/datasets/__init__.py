"""Datasets: the latent (image-free) training set, the Digits and Glyphs builders, classification sets."""
from .cifar import CIFAR10Dataset  # noqa: F401
from .digits import DIGIT_CLASSES, build_digits_cls, build_digits_det, load_digit_splits  # noqa: F401
from .digits_cls_dataset import DigitsClsDataset, GlyphsClsDataset  # noqa: F401
from .glyphs import GLYPH_CLASSES, build_glyphs_cls, build_glyphs_det  # noqa: F401
from .image_folder import ImageFolderDataset  # noqa: F401
from .latent import LatentDataset  # noqa: F401
from .transforms import PackClsInputs, RandomPadCrop  # noqa: F401
