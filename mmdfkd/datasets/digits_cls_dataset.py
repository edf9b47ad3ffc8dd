"""The real images of Digits-Cls, for training teachers and scoring students."""
import json
import os.path as osp
from typing import List

from mmengine.dataset import BaseDataset

from mmdfkd.registry import DATASETS

from .glyphs import GLYPH_CLASSES


@DATASETS.register_module()
class DigitsClsDataset(BaseDataset):
    """Digits-Cls: scikit-learn's 1,797 handwritten digits as 32x32 RGB PNGs.

    On-disk format, written by ``python tools/prepare_data.py digits-cls
    --out ROOT``::

        ROOT/images/{train,val}/00000.png           RGB, 32x32
        ROOT/annotations/{train,val}.json
            {"classes": ["0", ..., "9"], "seed": S,
             "samples": [{"img_path": "images/train/00000.png",
                          "label": 3, "source_index": 17}, ...]}

    ``img_path`` is relative to ``ROOT``. Each data info holds ``img_path``
    (joined with ``data_root``), ``gt_label`` (int) and ``source_index`` (the
    index into ``sklearn.datasets.load_digits``).

    Args:
        data_root (str): ``ROOT`` above.
        ann_file (str): annotation file, relative to ``data_root``.
            Default: ``'annotations/train.json'``.
        **kwargs: other arguments of :class:`~mmengine.dataset.BaseDataset`
            (``pipeline``, ``test_mode``, ``indices``, ...).
    """

    METAINFO = dict(classes=tuple(str(i) for i in range(10)))
    PREPARE_COMMAND = 'python tools/prepare_data.py digits-cls --out {root}'

    def __init__(self, data_root: str, ann_file: str = 'annotations/train.json', **kwargs) -> None:
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read the annotation file.

        Returns:
            list[dict]: one dict per image with ``img_path``, ``gt_label`` and
            ``source_index``.
        """
        if not osp.isfile(self.ann_file):
            root = self.data_root or '<dir>'
            raise FileNotFoundError(
                f'{type(self).__name__} annotation file {self.ann_file} not found (data_root={self.data_root!r}). '
                f'Create the dataset with `{self.PREPARE_COMMAND.format(root=root)}` or point data_root to it.')
        with open(self.ann_file) as f:
            ann = json.load(f)
        classes = tuple(ann['classes'])
        if classes != tuple(self.metainfo['classes']):
            raise ValueError(f'{self.ann_file} lists classes {classes}, but the dataset expects '
                             f"{tuple(self.metainfo['classes'])}; regenerate it with "
                             f'`{self.PREPARE_COMMAND.format(root=self.data_root or "<dir>")}` or pass '
                             'metainfo=dict(classes=...) matching the file')
        img_prefix = self.data_prefix.get('img_path', '')
        return [
            dict(
                img_path=osp.join(img_prefix, sample['img_path']),
                gt_label=int(sample['label']),
                source_index=sample.get('source_index', -1)) for sample in ann['samples']
        ]


@DATASETS.register_module()
class GlyphsClsDataset(DigitsClsDataset):
    """Glyphs-Cls: ten capital letters on photographs, 40x40 RGB PNGs.

    Written by ``python tools/prepare_data.py glyphs-cls --out ROOT``
    (:func:`mmdfkd.datasets.glyphs.build_glyphs_cls`) in Digits-Cls' format;
    samples carry no ``source_index`` (their data info holds -1).
    """

    METAINFO = dict(classes=GLYPH_CLASSES)
    PREPARE_COMMAND = 'python tools/prepare_data.py glyphs-cls --out {root}'
