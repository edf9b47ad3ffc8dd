"""Data transforms of the classification datasets."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmdfkd.registry import TRANSFORMS
from mmdfkd.structures import ClsDataSample


@TRANSFORMS.register_module()
class RandomPadCrop(BaseTransform):
    """Pad an image on every side, then crop it back to its size at random.

    A random translation by up to ``padding`` pixels, the usual augmentation
    of small-image classification (CIFAR, digits) where flips would change
    the class.

    Required keys: ``img`` ``(H, W, C)`` or ``(H, W)``.
    Modified keys: ``img`` (same shape).

    Args:
        padding (int): pixels added on each side before cropping. Default: 4.
        pad_val (int): value of the added pixels. Default: 0 (black).
    """

    def __init__(self, padding: int = 4, pad_val: int = 0) -> None:
        if padding < 0:
            raise ValueError(f'padding must be >= 0, got {padding}')
        self.padding = padding
        self.pad_val = pad_val

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        pad = [(self.padding, self.padding), (self.padding, self.padding)] + [(0, 0)] * (img.ndim - 2)
        padded = np.pad(img, pad, mode='constant', constant_values=self.pad_val)
        top, left = np.random.randint(0, 2 * self.padding + 1, size=2)
        results['img'] = np.ascontiguousarray(padded[top:top + h, left:left + w])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(padding={self.padding}, pad_val={self.pad_val})'


@TRANSFORMS.register_module()
class PackClsInputs(BaseTransform):
    """Pack an image and its label for :class:`TimmClassifier`.

    Required keys: ``img`` ``(H, W, C)`` or ``(H, W)`` uint8; optional
    ``gt_label`` (int) and the ``meta_keys``.

    Returns ``dict(inputs=(C, H, W) uint8 tensor, data_samples=ClsDataSample)``
    whose sample carries ``gt_label`` (when given) and the meta keys present.

    Args:
        meta_keys (Sequence[str]): keys copied into the sample's metainfo.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_path', 'ori_shape', 'img_shape', 'sample_idx',
                                             'source_index')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        data_sample = ClsDataSample(metainfo={k: results[k] for k in self.meta_keys if k in results})
        if 'gt_label' in results:
            data_sample.set_gt_label(results['gt_label'])
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
