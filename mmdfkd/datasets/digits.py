"""Builders of the bundled benchmarks Digits-Det and Digits-Cls.

Both are made from scikit-learn's ``load_digits`` (1,797 real handwritten 8x8
digits shipped inside the scikit-learn wheel) and are fully determined by a
seed. The source images are split once, by a seeded permutation, into disjoint
train and val sets; both benchmarks built with the same seed share that split,
and every image or annotation records the ``source_index`` it came from.

Layouts (``img_path`` / ``file_name`` relative to the folder shown):

- Digits-Det (``build_digits_det``): ``OUT/images/{train,val}/000000.png``
  (128x128 RGB) and ``OUT/annotations/instances_{train,val}.json`` in COCO
  format, categories 1..10 named '0'..'9'.
- Digits-Cls (``build_digits_cls``): ``OUT/images/{train,val}/00000.png``
  (32x32 RGB) and ``OUT/annotations/{train,val}.json`` =
  ``{"classes": [...], "seed": S, "samples": [{"img_path", "label",
  "source_index"}, ...]}``.

Annotation files are written last and atomically (temporary file, then
rename): a folder whose JSON exists is complete.
"""
import json
import os
import os.path as osp
from typing import Dict, Iterable, Iterator, List, NamedTuple, Tuple

import numpy as np
from PIL import Image

from mmdfkd.engine.fileio import atomic_write_text

DIGIT_CLASSES = tuple(str(i) for i in range(10))
SPLITS = ('train', 'val')
# Fraction of the 1,797 source digits that goes to the val split.
VAL_FRACTION = 0.2
# Upsampled ink with alpha above this counts as the digit for its box.
INK_THRESHOLD = 0.3
# A new digit is rejected where its ink box covers more than this fraction of
# an already placed one's (or its own) area.
MAX_OVERLAP = 0.1


class DigitSplits(NamedTuple):
    """The source digits and their train / val split.

    Attributes:
        images (np.ndarray): (1797, 8, 8) float ink in [0, 1].
        labels (np.ndarray): (1797,) int digit classes 0..9.
        train (np.ndarray): Sorted source indices of the train split.
        val (np.ndarray): Sorted source indices of the val split.
    """
    images: np.ndarray
    labels: np.ndarray
    train: np.ndarray
    val: np.ndarray


def load_digit_splits(seed: int = 0) -> DigitSplits:
    """Load scikit-learn's digits and split them by a seeded permutation.

    Args:
        seed (int): Seed of the split.

    Returns:
        DigitSplits: Images, labels and disjoint train / val source indices
        (80 / 20).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError('The Digits benchmarks are built from scikit-learn\'s bundled digits; '
                          'install it with `pip install scikit-learn`.') from e
    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(images))
    num_val = int(round(len(images) * VAL_FRACTION))
    return DigitSplits(images, labels, np.sort(order[num_val:]), np.sort(order[:num_val]))


def build_digits_det(out_dir: str = 'data/digits-det',
                     num_train: int = 3000,
                     num_val: int = 500,
                     seed: int = 0,
                     canvas_size: int = 128,
                     digit_size: Tuple[int, int] = (20, 48),
                     max_digits: int = 4) -> Dict[str, str]:
    """Write the Digits-Det detection benchmark (COCO format).

    Each image is a ``canvas_size`` square RGB canvas with a noisy coloured
    background and 1 to ``max_digits`` digits of its split, each upsampled
    (bicubic) to a random size in ``digit_size``, coloured with a contrasting
    ink and alpha-blended in. Boxes are tight around the ink (alpha >
    ``INK_THRESHOLD``); digits whose ink boxes would overlap heavily are moved,
    or dropped after 20 tries.

    Args:
        out_dir (str): Output folder.
        num_train (int): Train images.
        num_val (int): Val images.
        seed (int): Seed of the source split and of the rendering.
        canvas_size (int): Image side in pixels.
        digit_size (tuple[int, int]): Smallest and largest pasted digit side.
        max_digits (int): Most digits per image.

    Returns:
        dict[str, str]: Annotation file path of each split.
    """
    if not 8 <= digit_size[0] <= digit_size[1] <= canvas_size:
        raise ValueError(f'digit_size {digit_size} must satisfy 8 <= min <= max <= canvas_size={canvas_size}.')
    splits = load_digit_splits(seed)
    ann_files = {}
    for split_id, (split, num_images) in enumerate(zip(SPLITS, (num_train, num_val))):
        pool = getattr(splits, split)
        rng = np.random.default_rng([seed, split_id])
        img_dir = osp.join(out_dir, 'images', split)
        os.makedirs(img_dir, exist_ok=True)
        images, annotations = [], []
        for image_id in progress(range(1, num_images + 1), num_images, f'Digits-Det {split}'):
            canvas, digits = _render_det_image(rng, splits, pool, canvas_size, digit_size, max_digits)
            file_name = f'{image_id - 1:06d}.png'
            Image.fromarray(canvas).save(osp.join(img_dir, file_name))
            images.append(dict(id=image_id, file_name=file_name, width=canvas_size, height=canvas_size))
            for box, label, source_index in digits:
                x, y, w, h = box
                annotations.append(
                    dict(id=len(annotations) + 1, image_id=image_id, category_id=label + 1,
                         bbox=[float(x), float(y), float(w), float(h)], area=float(w * h), iscrowd=0,
                         source_index=source_index))
        coco = dict(
            info=dict(description=f'Digits-Det {split} split from sklearn load_digits', seed=seed,
                      source_indices=pool.tolist()),
            images=images,
            annotations=annotations,
            categories=[dict(id=i + 1, name=name) for i, name in enumerate(DIGIT_CLASSES)])
        ann_files[split] = osp.join(out_dir, 'annotations', f'instances_{split}.json')
        write_json_atomic(coco, ann_files[split])
    return ann_files


def build_digits_cls(out_dir: str = 'data/digits-cls', seed: int = 0, size: int = 32) -> Dict[str, str]:
    """Write the Digits-Cls classification benchmark.

    Every source digit is used exactly once: the train split's digits as train
    images, the val split's as val images, in source-index order, upsampled
    (bicubic) to ``size`` x ``size``, white ink on black, three channels.

    Args:
        out_dir (str): Output folder.
        seed (int): Seed of the source split (same split as Digits-Det).
        size (int): Image side in pixels.

    Returns:
        dict[str, str]: Annotation file path of each split.
    """
    splits = load_digit_splits(seed)
    ann_files = {}
    for split in SPLITS:
        pool = getattr(splits, split)
        img_dir = osp.join(out_dir, 'images', split)
        os.makedirs(img_dir, exist_ok=True)
        samples = []
        for i, source_index in enumerate(progress(pool, len(pool), f'Digits-Cls {split}')):
            grey = (np.clip(_upsample(splits.images[source_index], size), 0, 1) * 255).round().astype(np.uint8)
            img_path = f'images/{split}/{i:05d}.png'
            Image.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(osp.join(out_dir, img_path))
            samples.append(
                dict(img_path=img_path, label=int(splits.labels[source_index]), source_index=int(source_index)))
        ann_files[split] = osp.join(out_dir, 'annotations', f'{split}.json')
        write_json_atomic(dict(classes=list(DIGIT_CLASSES), seed=seed, samples=samples), ann_files[split])
    return ann_files


def _render_det_image(rng: np.random.Generator, splits: DigitSplits, pool: np.ndarray, canvas_size: int,
                      digit_size: Tuple[int, int], max_digits: int) -> Tuple[np.ndarray, List[tuple]]:
    """Render one canvas.

    Returns:
        tuple: (canvas_size, canvas_size, 3) uint8 RGB image and a list of
        ``((x, y, w, h), label, source_index)`` per pasted digit.
    """
    canvas = _background(rng, canvas_size)
    digits: List[tuple] = []
    for _ in range(int(rng.integers(1, max_digits + 1))):
        source_index = int(rng.choice(pool))
        side = int(rng.integers(digit_size[0], digit_size[1] + 1))
        alpha = np.clip(_upsample(splits.images[source_index], side), 0, 1)
        rows, cols = np.nonzero(alpha > INK_THRESHOLD)
        ink_box = (cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min())
        for _try in range(20):
            x0 = int(rng.integers(0, canvas_size - side + 1))
            y0 = int(rng.integers(0, canvas_size - side + 1))
            box = (x0 + ink_box[0], y0 + ink_box[1], ink_box[2], ink_box[3])
            if all(overlap_fraction(box, other) <= MAX_OVERLAP for other, _, _ in digits):
                break
        else:
            continue
        patch = canvas[y0:y0 + side, x0:x0 + side]
        ink = _contrasting_colour(rng, patch.reshape(-1, 3).mean(0))
        a = alpha[..., None]
        canvas[y0:y0 + side, x0:x0 + side] = patch * (1 - a) + ink * a
        digits.append((box, int(splits.labels[source_index]), source_index))
    return np.clip(canvas, 0, 255).round().astype(np.uint8), digits


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random colour with a smooth colour field and pixel noise, float RGB."""
    base = rng.uniform(0, 255, size=3)
    field = rng.normal(0, rng.uniform(10, 50), size=(4, 4, 3))
    smooth = np.stack([_upsample(field[..., c], size, resample=Image.Resampling.BILINEAR) for c in range(3)], axis=-1)
    noise = rng.normal(0, rng.uniform(2, 15), size=(size, size, 3))
    return np.clip(base + smooth + noise, 0, 255)


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A random RGB ink whose luminance differs from ``background``'s by >= 80."""
    weights = np.array([0.299, 0.587, 0.114])
    for _ in range(20):
        ink = rng.uniform(0, 255, size=3)
        if abs(weights @ ink - weights @ background) >= 80:
            return ink
    return np.zeros(3) if weights @ background > 127.5 else np.full(3, 255.0)


def _upsample(image: np.ndarray, size: int, resample: int = Image.Resampling.BICUBIC) -> np.ndarray:
    """Resize a float 2-D array to (size, size)."""
    return np.asarray(Image.fromarray(image.astype(np.float32)).resize((size, size), resample))


def overlap_fraction(box_a: tuple, box_b: tuple) -> float:
    """Intersection of two (x, y, w, h) boxes over the smaller one's area."""
    iw = min(box_a[0] + box_a[2], box_b[0] + box_b[2]) - max(box_a[0], box_b[0])
    ih = min(box_a[1] + box_a[3], box_b[1] + box_b[3]) - max(box_a[1], box_b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / min(box_a[2] * box_a[3], box_b[2] * box_b[3])


def write_json_atomic(obj: dict, path: str) -> None:
    """Write ``obj`` as JSON to ``path`` atomically, creating its folder."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    atomic_write_text(path, json.dumps(obj))


def progress(items: Iterable, total: int, desc: str) -> Iterator:
    """Iterate with a progress bar: tqdm when installed, else MMEngine's."""
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        yield from tqdm(items, total=total, desc=desc)
        return
    from mmengine.utils import ProgressBar
    bar = ProgressBar(total)
    for item in items:
        yield item
        bar.update()
