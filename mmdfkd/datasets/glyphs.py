"""Builders of the second bundled benchmarks, Glyphs-Det and Glyphs-Cls.

A renderer unlike Digits' in every respect the data-free recipes could
imitate, so that a recipe tuned to Digits shows here:

- **objects**: ten capital letters (:data:`GLYPH_CLASSES`) drawn from the
  TrueType fonts matplotlib ships (DejaVu, STIX, Computer Modern: 15 faces,
  upright, bold, italic, serif, sans and mono), rotated up to 25 degrees;
- **backgrounds**: crops of the photographs scikit-learn and matplotlib ship
  (``china.jpg``, ``flower.jpg``, ``grace_hopper.jpg``,
  ``Minduka_Present_Blue_Pack.png``) and of two elevation maps matplotlib
  ships, hill-shaded (``jacksboro_fault_dem.npz``, ``topobathy.npz``), at a
  random zoom, flipped and with jittered brightness and contrast. The train
  split crops only the left 70 % of every source, the val split only the
  right 30 %: no val background pixel is ever in a train image;
- **inks**: a flat colour, a two-colour gradient or a texture cut from
  another photograph (45 / 35 / 20 %), with no contrast floor against the background, and
  translucent (opacity 0.7-1);
- **layout** (Glyphs-Det): a 160x160 canvas, 1 + Poisson(2) objects (at most
  8), heights log-uniform in 12-80 px, occlusions up to 40 % of the smaller
  box.

Files (the same formats as Digits', so the same dataset classes read them):

- Glyphs-Det (:func:`build_glyphs_det`): ``OUT/images/{train,val}/000000.png``
  and ``OUT/annotations/instances_{train,val}.json`` (COCO, categories
  1..10 named after the letters);
- Glyphs-Cls (:func:`build_glyphs_cls`): ``OUT/images/{train,val}/00000.png``
  (40x40) and ``OUT/annotations/{train,val}.json`` =
  ``{"classes": [...], "seed": S, "samples": [{"img_path", "label"}, ...]}``.

Everything is determined by ``seed``; annotation files are written last and
atomically, so a folder whose JSON exists is complete.
"""
import os
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .digits import SPLITS, overlap_fraction, progress, write_json_atomic

GLYPH_CLASSES = ('A', 'C', 'E', 'G', 'H', 'K', 'M', 'R', 'W', 'X')
FONT_FILES = ('DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSans-Oblique.ttf', 'DejaVuSerif.ttf',
              'DejaVuSerif-Bold.ttf', 'DejaVuSerif-Italic.ttf', 'DejaVuSansMono.ttf', 'DejaVuSansMono-Bold.ttf',
              'STIXGeneral.ttf', 'STIXGeneralBol.ttf', 'STIXGeneralItalic.ttf', 'cmr10.ttf', 'cmss10.ttf',
              'cmtt10.ttf', 'cmb10.ttf')
# Share of every background source's width (from the left) the train split crops from.
TRAIN_WIDTH = 0.7
# Rendered glyph alpha above this (before translucency) counts as the object for its box.
INK_THRESHOLD = 0.5
# A new object is redrawn where its box covers more than this fraction of a placed one's (or its own).
MAX_OVERLAP = 0.4
MAX_ROTATION = 25.0
OPACITY = (0.7, 1.0)
# Chances of a flat, a gradient and a texture ink.
INK_KINDS = (0.45, 0.35, 0.2)


def load_backgrounds() -> List[np.ndarray]:
    """The photographs and hill-shaded elevation maps the benchmarks crop from.

    Returns:
        list[np.ndarray]: (H, W, 3) float RGB images in [0, 255].
    """
    import matplotlib.cbook as cbook
    from matplotlib import cm
    from matplotlib.colors import LightSource
    from sklearn.datasets import load_sample_images

    images = [img.astype(np.float32) for img in load_sample_images().images]
    for name in ('grace_hopper.jpg', 'Minduka_Present_Blue_Pack.png'):
        img = np.asarray(Image.open(cbook.get_sample_data(name, asfileobj=False)).convert('RGB'))
        images.append(img.astype(np.float32))
    shade = LightSource(azdeg=315, altdeg=45)
    for name, key, cmap in (('jacksboro_fault_dem.npz', 'elevation', cm.gist_earth),
                            ('topobathy.npz', 'topo', cm.terrain)):
        with np.load(cbook.get_sample_data(name, asfileobj=False)) as data:
            dem = data[key].astype(np.float32)
        rgb = shade.shade(dem, cmap=cmap, blend_mode='soft', vert_exag=0.05)[..., :3]
        images.append((rgb * 255).astype(np.float32))
    return images


def load_fonts() -> List[str]:
    """Paths of :data:`FONT_FILES` inside matplotlib's ``mpl-data``."""
    import matplotlib
    root = osp.join(osp.dirname(matplotlib.__file__), 'mpl-data', 'fonts', 'ttf')
    paths = [osp.join(root, name) for name in FONT_FILES]
    missing = [p for p in paths if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(f'matplotlib does not ship the fonts {missing}; reinstall matplotlib (>= 3.5).')
    return paths


class GlyphRenderer:
    """Draws backgrounds and glyph objects for one split.

    Args:
        split (str): 'train' or 'val': which part of every background
            source the crops come from.
        rng (np.random.Generator): All randomness.
    """

    def __init__(self, split: str, rng: np.random.Generator) -> None:
        self.rng = rng
        self.fonts = load_fonts()
        self.sources = []
        for img in load_backgrounds():
            cut = int(img.shape[1] * TRAIN_WIDTH)
            self.sources.append(img[:, :cut] if split == 'train' else img[:, cut:])

    def background(self, size: int) -> np.ndarray:
        """A (size, size, 3) float crop of a random source, zoomed, flipped and jittered."""
        rng = self.rng
        src = self.sources[int(rng.integers(len(self.sources)))]
        h, w = src.shape[:2]
        side = int(rng.uniform(0.25, 1.0) * min(h, w))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = Image.fromarray(src[y:y + side, x:x + side].astype(np.uint8)).resize((size, size), Image.BILINEAR)
        img = np.asarray(crop, dtype=np.float32)
        if rng.random() < 0.5:
            img = img[:, ::-1]
        mean = img.mean()
        img = (img - mean) * rng.uniform(0.6, 1.4) + mean + rng.uniform(-40, 40)
        return np.clip(img, 0, 255)

    def ink(self, size: Tuple[int, int]) -> np.ndarray:
        """An (h, w, 3) float ink: flat colour, two-colour gradient or photo texture."""
        rng = self.rng
        h, w = size
        kind = rng.choice(3, p=INK_KINDS)
        if kind == 0:
            return np.broadcast_to(rng.uniform(0, 255, 3), (h, w, 3)).astype(np.float32)
        if kind == 1:
            a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
            angle = rng.uniform(0, np.pi)
            ys, xs = np.mgrid[0:h, 0:w]
            t = (np.cos(angle) * xs / max(w - 1, 1) + np.sin(angle) * ys / max(h - 1, 1)) / 1.5
            t = np.clip(t, 0, 1)[..., None]
            return (a * (1 - t) + b * t).astype(np.float32)
        return self.background(max(h, w))[:h, :w]

    def glyph(self, label: int, height: int) -> np.ndarray:
        """The alpha matte (h, w) float in [0, 1] of letter ``label``, ~``height`` px tall, rotated."""
        rng = self.rng
        font = ImageFont.truetype(self.fonts[int(rng.integers(len(self.fonts)))], size=max(4, int(height * 1.3)))
        text = GLYPH_CLASSES[label]
        left, top, right, bottom = font.getbbox(text)
        pad = max(right - left, bottom - top)
        canvas = Image.new('L', (right - left + 2 * pad, bottom - top + 2 * pad), 0)
        ImageDraw.Draw(canvas).text((pad - left, pad - top), text, font=font, fill=255)
        canvas = canvas.rotate(rng.uniform(-MAX_ROTATION, MAX_ROTATION), resample=Image.BILINEAR)
        alpha = np.asarray(canvas, dtype=np.float32) / 255
        rows, cols = np.nonzero(alpha > INK_THRESHOLD)
        alpha = alpha[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        scale = height / alpha.shape[0]
        new = (max(2, int(round(alpha.shape[1] * scale))), max(2, height))
        return np.asarray(Image.fromarray(alpha).resize(new, Image.BILINEAR), dtype=np.float32).clip(0, 1)

    def paste(self, canvas: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
        """Blend a translucent inked glyph into ``canvas`` (H, W, 3) in place at (x, y)."""
        h, w = alpha.shape
        a = (alpha * self.rng.uniform(*OPACITY))[..., None]
        patch = canvas[y:y + h, x:x + w]
        canvas[y:y + h, x:x + w] = patch * (1 - a) + self.ink((h, w)) * a


def build_glyphs_det(out_dir: str = 'data/glyphs-det',
                     num_train: int = 3000,
                     num_val: int = 500,
                     seed: int = 0,
                     canvas_size: int = 160,
                     height_range: Tuple[int, int] = (12, 80),
                     max_objects: int = 8) -> Dict[str, str]:
    """Write the Glyphs-Det detection benchmark (COCO format).

    Args:
        out_dir (str): Output folder.
        num_train (int): Train images.
        num_val (int): Val images.
        seed (int): Seed of all rendering.
        canvas_size (int): Image side in pixels.
        height_range (tuple[int, int]): Glyph heights, drawn log-uniformly.
        max_objects (int): Most objects per image (1 + Poisson(2), capped).

    Returns:
        dict[str, str]: Annotation file path of each split.
    """
    if not 4 <= height_range[0] <= height_range[1] <= canvas_size // 2:
        raise ValueError(f'height_range {height_range} must satisfy 4 <= low <= high <= canvas_size / 2 '
                         f'= {canvas_size // 2}.')
    ann_files = {}
    for split_id, (split, num_images) in enumerate(zip(SPLITS, (num_train, num_val))):
        rng = np.random.default_rng([seed, 100 + split_id])
        renderer = GlyphRenderer(split, rng)
        img_dir = osp.join(out_dir, 'images', split)
        os.makedirs(img_dir, exist_ok=True)
        images, annotations = [], []
        log_lo, log_hi = np.log(height_range[0]), np.log(height_range[1])
        for image_id in progress(range(1, num_images + 1), num_images, f'Glyphs-Det {split}'):
            canvas = renderer.background(canvas_size)
            boxes: List[tuple] = []
            for _ in range(min(max_objects, 1 + int(rng.poisson(2.0)))):
                label = int(rng.integers(len(GLYPH_CLASSES)))
                alpha = renderer.glyph(label, int(round(np.exp(rng.uniform(log_lo, log_hi)))))
                h, w = alpha.shape
                if w > canvas_size:
                    continue
                for _try in range(20):
                    x, y = int(rng.integers(0, canvas_size - w + 1)), int(rng.integers(0, canvas_size - h + 1))
                    if all(overlap_fraction((x, y, w, h), other) <= MAX_OVERLAP for other, _ in boxes):
                        break
                else:
                    continue
                renderer.paste(canvas, alpha, x, y)
                boxes.append(((x, y, w, h), label))
            file_name = f'{image_id - 1:06d}.png'
            Image.fromarray(np.clip(canvas, 0, 255).round().astype(np.uint8)).save(osp.join(img_dir, file_name))
            images.append(dict(id=image_id, file_name=file_name, width=canvas_size, height=canvas_size))
            for (x, y, w, h), label in boxes:
                annotations.append(
                    dict(id=len(annotations) + 1, image_id=image_id, category_id=label + 1,
                         bbox=[float(x), float(y), float(w), float(h)], area=float(w * h), iscrowd=0))
        coco = dict(info=dict(description=f'Glyphs-Det {split} split', seed=seed), images=images,
                    annotations=annotations,
                    categories=[dict(id=i + 1, name=name) for i, name in enumerate(GLYPH_CLASSES)])
        ann_files[split] = osp.join(out_dir, 'annotations', f'instances_{split}.json')
        write_json_atomic(coco, ann_files[split])
    return ann_files


def build_glyphs_cls(out_dir: str = 'data/glyphs-cls',
                     num_train: int = 12000,
                     num_val: int = 1000,
                     seed: int = 0,
                     size: int = 40) -> Dict[str, str]:
    """Write the Glyphs-Cls classification benchmark.

    Each image is one glyph, 55-90 % of the image tall, at a random position
    on a photographic background; classes are balanced in expectation.

    Args:
        out_dir (str): Output folder.
        num_train (int): Train images.
        num_val (int): Val images.
        seed (int): Seed of all rendering.
        size (int): Image side in pixels.

    Returns:
        dict[str, str]: Annotation file path of each split.
    """
    ann_files = {}
    for split_id, (split, num_images) in enumerate(zip(SPLITS, (num_train, num_val))):
        rng = np.random.default_rng([seed, 200 + split_id])
        renderer = GlyphRenderer(split, rng)
        img_dir = osp.join(out_dir, 'images', split)
        os.makedirs(img_dir, exist_ok=True)
        samples = []
        for i in progress(range(num_images), num_images, f'Glyphs-Cls {split}'):
            canvas = renderer.background(size)
            label = int(rng.integers(len(GLYPH_CLASSES)))
            alpha = renderer.glyph(label, int(round(rng.uniform(0.55, 0.9) * size)))
            alpha = alpha[:, :size]
            h, w = alpha.shape
            renderer.paste(canvas, alpha, int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1)))
            img_path = f'images/{split}/{i:05d}.png'
            Image.fromarray(np.clip(canvas, 0, 255).round().astype(np.uint8)).save(osp.join(out_dir, img_path))
            samples.append(dict(img_path=img_path, label=label))
        ann_files[split] = osp.join(out_dir, 'annotations', f'{split}.json')
        write_json_atomic(dict(classes=list(GLYPH_CLASSES), seed=seed, samples=samples), ann_files[split])
    return ann_files
