"""Glyphs-Det / Glyphs-Cls: deterministic from the seed, valid annotations, disjoint background regions."""
import hashlib
import json
import os

import numpy as np
from PIL import Image

from mmdfkd.datasets import GlyphsClsDataset
from mmdfkd.datasets.glyphs import GLYPH_CLASSES, GlyphRenderer, build_glyphs_cls, build_glyphs_det


def _digest(folder: str) -> str:
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            with open(os.path.join(root, name), 'rb') as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


def test_glyphs_det_is_deterministic_and_valid(tmp_path):
    a = build_glyphs_det(str(tmp_path / 'a'), num_train=6, num_val=3, seed=3)
    build_glyphs_det(str(tmp_path / 'b'), num_train=6, num_val=3, seed=3)
    build_glyphs_det(str(tmp_path / 'c'), num_train=6, num_val=3, seed=4)
    assert _digest(tmp_path / 'a') == _digest(tmp_path / 'b') != _digest(tmp_path / 'c')
    coco = json.load(open(a['train']))
    assert [c['name'] for c in coco['categories']] == list(GLYPH_CLASSES)
    assert all(im['width'] == im['height'] == 160 for im in coco['images'])
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= 160 and y + h <= 160 and w > 0 and h > 0
    assert len(coco['annotations']) >= len(coco['images'])
    img = np.asarray(Image.open(tmp_path / 'a' / 'images' / 'train' / '000000.png'))
    assert img.shape == (160, 160, 3)


def test_glyphs_cls_is_read_by_its_dataset(tmp_path):
    files = build_glyphs_cls(str(tmp_path), num_train=8, num_val=4, seed=0)
    data = GlyphsClsDataset(str(tmp_path), 'annotations/val.json')
    assert len(data) == 4 and json.load(open(files['train']))['classes'] == list(GLYPH_CLASSES)
    assert np.asarray(Image.open(data[0]['img_path'])).shape == (40, 40, 3)


def test_val_backgrounds_come_from_other_pixels_than_train():
    rng = np.random.default_rng(0)
    train, val = GlyphRenderer('train', rng), GlyphRenderer('val', rng)
    for t, v in zip(train.sources, val.sources):
        assert t.shape[0] == v.shape[0] and t.shape[1] > 2 * v.shape[1]  # left 70 % vs right 30 %
