"""Datasets: the latent (image-free) training set, Digits builders, classification sets."""
from .digits_cls_dataset import DigitsClsDataset  # noqa: F401
from .transforms import PackClsInputs, RandomPadCrop  # noqa: F401
from .cifar import CIFAR10Dataset  # noqa: F401
from .image_folder import ImageFolderDataset  # noqa: F401
