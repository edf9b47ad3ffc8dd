"""Data preprocessor of the classifiers."""
from typing import Optional, Sequence, Union

from mmengine.model import ImgDataPreprocessor

from mmdfkd.registry import MODELS


@MODELS.register_module()
class ClsDataPreprocessor(ImgDataPreprocessor):
    """Cast, convert channels, normalise and stack a batch of images.

    The dataloader yields ``dict(inputs=[(3, H, W) uint8 tensors],
    data_samples=[ClsDataSample])``; this returns ``dict(inputs=(N, 3, H, W)
    float tensor, data_samples=[...])`` on the model's device, with each
    sample's ``gt_label`` moved there too (the classifier stacks the labels).

    The defaults map pixel values ``[0, 255]`` to ``[-1, 1]``, which is also the
    range a ``tanh`` generator produces in the data-free path.

    Args:
        mean (Sequence[float]): per-channel mean, in the order after conversion.
        std (Sequence[float]): per-channel std.
        bgr_to_rgb (bool): flip BGR images (what ``LoadImageFromFile`` loads)
            to RGB. Default: True.
        pad_size_divisor (int): pad H and W up to a multiple of this. Default: 1.
        pad_value (float): value of padded pixels. Default: 0.
        non_blocking (bool): non-blocking host-to-device copies.
    """

    def __init__(self,
                 mean: Optional[Sequence[Union[float, int]]] = (127.5, 127.5, 127.5),
                 std: Optional[Sequence[Union[float, int]]] = (127.5, 127.5, 127.5),
                 bgr_to_rgb: bool = True,
                 pad_size_divisor: int = 1,
                 pad_value: Union[float, int] = 0,
                 non_blocking: Optional[bool] = False) -> None:
        super().__init__(
            mean=mean,
            std=std,
            pad_size_divisor=pad_size_divisor,
            pad_value=pad_value,
            bgr_to_rgb=bgr_to_rgb,
            non_blocking=non_blocking)
