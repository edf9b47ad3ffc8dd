"""Tiny inputs and on-disk fixtures for tests and quick experiments."""
import json
import os
import os.path as osp
from typing import List

import numpy as np
import torch

from mmdfkd.structures import ClsDataSample

from .models import CLASSES


def demo_cls_inputs(batch_size: int = 2, num_classes: int = 10, img_size: int = 32, seed: int = 0) -> dict:
    """A random batch as a classification dataloader yields it.

    Args:
        batch_size (int): N.
        num_classes (int): labels are drawn from ``range(num_classes)``.
        img_size (int): H = W.
        seed (int): random seed.

    Returns:
        dict: ``inputs``: N ``(3, H, W)`` uint8 tensors; ``data_samples``: N
        :class:`ClsDataSample` with ``gt_label``.
    """
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, img_size, img_size), dtype=torch.uint8, generator=gen)
              for _ in range(batch_size)]
    labels = torch.randint(0, num_classes, (batch_size, ), generator=gen)
    data_samples = [
        ClsDataSample(metainfo=dict(img_shape=(img_size, img_size))).set_gt_label(label) for label in labels
    ]
    return dict(inputs=inputs, data_samples=data_samples)


def write_digits_cls_fixture(root: str, num_train: int = 8, num_val: int = 4, seed: int = 0) -> str:
    """Write a tiny random dataset in Digits-Cls's on-disk format.

    The format is the one ``python tools/prepare_data.py digits-cls`` writes
    (see :class:`~mmdfkd.datasets.DigitsClsDataset`); images are noise.

    Args:
        root (str): the dataset root to create.
        num_train (int): images in the train split.
        num_val (int): images in the val split.
        seed (int): random seed.

    Returns:
        str: ``root``.
    """
    import cv2
    rng = np.random.RandomState(seed)
    classes: List[str] = [str(i) for i in range(10)]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for split, num in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        samples = []
        for i in range(num):
            img_path = f'images/{split}/{i:05d}.png'
            cv2.imwrite(osp.join(root, img_path), rng.randint(0, 256, (32, 32, 3), dtype=np.uint8))
            samples.append(dict(img_path=img_path, label=int(rng.randint(10)), source_index=i))
        with open(osp.join(root, 'annotations', f'{split}.json'), 'w') as f:
            json.dump(dict(classes=classes, seed=seed, samples=samples), f)
    return root


def write_coco_fixture(root: str, num: int = 1, size: int = 64) -> str:
    """A COCO-format split of ``num`` random images with one box each; returns the image folder."""
    import cv2
    rng = np.random.RandomState(0)
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    images, annotations = [], []
    for i in range(num):
        name = f'{i:03d}.png'
        cv2.imwrite(osp.join(root, 'images', name), rng.randint(0, 256, (size, size, 3), dtype=np.uint8))
        images.append(dict(id=i, file_name=name, height=size, width=size))
        annotations.append(dict(id=i, image_id=i, category_id=i % 10, bbox=[8, 8, 24, 24], area=576, iscrowd=0))
    categories = [dict(id=i, name=name) for i, name in enumerate(CLASSES)]
    with open(osp.join(root, 'annotations', 'test.json'), 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return osp.join(root, 'images')


def write_coco_splits(root: str, num_train: int = 4, num_val: int = 2, size: int = 64) -> str:
    """Digits-Det's layout with random images; returns ``root``."""
    import cv2
    rng = np.random.RandomState(0)
    categories = [dict(id=i, name=name) for i, name in enumerate(CLASSES)]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for split, num in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        images, annotations = [], []
        for i in range(num):
            name = f'{i:03d}.png'
            cv2.imwrite(osp.join(root, 'images', split, name), rng.randint(0, 256, (size, size, 3), dtype=np.uint8))
            images.append(dict(id=i, file_name=name, height=size, width=size))
            annotations.append(dict(id=i, image_id=i, category_id=i % 10, bbox=[8, 8, 24, 24], area=576,
                                    iscrowd=0))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return root
