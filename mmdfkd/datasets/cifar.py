"""CIFAR-10 from its python pickle files, held in memory."""
import os.path as osp
import pickle
from typing import List, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from mmdfkd.registry import DATASETS

CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz'
CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')
# Globals that numpy arrays inside the CIFAR pickles reference (numpy 1.x and 2.x names).
_NUMPY_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy', 'ndarray'), ('numpy', 'dtype'), ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar')
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickle plain containers and numpy arrays only, nothing executable."""

    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'{module}.{name} is not allowed in a CIFAR batch file; '
                                     'is this really a CIFAR python pickle?')


def _load_batch(path: str) -> dict:
    with open(path, 'rb') as f:
        return _ArrayUnpickler(f, encoding='bytes').load()


def _get(batch: dict, key: str):
    """Read ``key`` whether the pickle stored bytes or str keys."""
    return batch[key.encode()] if key.encode() in batch else batch[key]


@DATASETS.register_module()
class CIFAR10Dataset(BaseDataset):
    """CIFAR-10 read from the "python version" pickles, no download.

    Expected files (the content of ``cifar-10-python.tar.gz``, from
    https://www.cs.toronto.edu/~kriz/cifar.html), either directly in
    ``data_root`` or in ``data_root/cifar-10-batches-py``::

        batches.meta                          label names
        data_batch_1 ... data_batch_5         train split, 10,000 images each
        test_batch                            test split, 10,000 images

    Each batch file holds ``data`` (n, 3072) uint8 (1024 red, 1024 green,
    1024 blue values per image, row-major) and ``labels`` (n,) ints.

    The images stay in memory: each data info holds ``img`` (32, 32, 3)
    uint8 plus ``img_shape`` / ``ori_shape``, so the pipeline starts without
    ``LoadImageFromFile``, e.g. ``[dict(type='RandomPadCrop', padding=4),
    dict(type='PackClsInputs')]``. ``img`` is in BGR order by default, like
    what ``LoadImageFromFile`` returns, so the same
    ``ClsDataPreprocessor(bgr_to_rgb=True)`` serves this dataset and image
    files; set ``channel_order='rgb'`` to keep RGB.

    Args:
        data_root (str): Folder holding the files above.
        split (str): ``'train'`` (``data_batch_*``) or ``'test'``
            (``test_batch``). Default: ``'train'``.
        train_batches (Sequence[str]): Train batch file names. Default:
            ``data_batch_1`` ... ``data_batch_5``.
        channel_order (str): ``'bgr'`` or ``'rgb'`` order of ``img``.
            Default: ``'bgr'``.
        **kwargs: Other arguments of :class:`~mmengine.dataset.BaseDataset`
            (``pipeline``, ``test_mode``, ``indices``, ...).
    """

    METAINFO = dict(classes=CIFAR10_CLASSES)

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 train_batches: Sequence[str] = tuple(f'data_batch_{i}' for i in range(1, 6)),
                 channel_order: str = 'bgr',
                 **kwargs) -> None:
        if split not in ('train', 'test'):
            raise ValueError(f"CIFAR10Dataset split must be 'train' or 'test', got {split!r}")
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
        self.split = split
        self.train_batches = tuple(train_batches)
        self.channel_order = channel_order
        super().__init__(data_root=data_root, **kwargs)

    def _batch_dir(self) -> str:
        nested = osp.join(self.data_root, 'cifar-10-batches-py')
        return nested if osp.isdir(nested) else self.data_root

    def load_data_list(self) -> List[dict]:
        """Read the batch files of the split.

        Returns:
            list[dict]: one dict per image with ``img`` (32, 32, 3) uint8,
            ``img_shape``, ``ori_shape`` and ``gt_label`` (int).
        """
        folder = self._batch_dir()
        names = list(self.train_batches) if self.split == 'train' else ['test_batch']
        missing = [n for n in ['batches.meta'] + names if not osp.isfile(osp.join(folder, n))]
        if missing:
            raise FileNotFoundError(
                f'CIFAR-10 files {missing} not found in {folder!r}. Download {CIFAR10_URL} and extract it so '
                f'that {osp.join(self.data_root, "cifar-10-batches-py", "data_batch_1")} exists (or point '
                'data_root at the folder that holds batches.meta, data_batch_1..5 and test_batch).')
        meta = _load_batch(osp.join(folder, 'batches.meta'))
        classes = tuple(n.decode() if isinstance(n, bytes) else n for n in _get(meta, 'label_names'))
        if classes != tuple(self.metainfo['classes']):
            raise ValueError(f'{osp.join(folder, "batches.meta")} names classes {classes}, expected '
                             f"{tuple(self.metainfo['classes'])}; pass metainfo=dict(classes=...) matching it")
        data_list = []
        for name in names:
            batch = _load_batch(osp.join(folder, name))
            data = np.asarray(_get(batch, 'data'), dtype=np.uint8)
            labels = [int(v) for v in _get(batch, 'labels')]
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
                raise ValueError(f'{osp.join(folder, name)}: expected data (n, 3072) and n labels, got '
                                 f'{data.shape} and {len(labels)}; the file is not a CIFAR-10 python batch')
            images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (n, 32, 32, 3) RGB
            if self.channel_order == 'bgr':
                images = images[..., ::-1]
            for img, label in zip(images, labels):
                data_list.append(
                    dict(img=np.ascontiguousarray(img), img_shape=(32, 32), ori_shape=(32, 32), gt_label=label))
        return data_list
