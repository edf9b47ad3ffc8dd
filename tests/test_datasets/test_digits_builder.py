"""Digits-Det / Digits-Cls builders: determinism, disjoint sources, formats."""
import filecmp
import json
import os
import os.path as osp

import numpy as np
from PIL import Image

from mmdfkd.datasets.digits import build_digits_cls, build_digits_det, load_digit_splits


def _all_files(root):
    return sorted(osp.relpath(osp.join(d, f), root) for d, _, files in os.walk(root) for f in files)


def test_digit_splits_are_disjoint_and_cover_all_sources():
    splits = load_digit_splits(seed=3)
    assert len(splits.images) == 1797
    assert not set(splits.train) & set(splits.val)
    assert len(splits.train) + len(splits.val) == 1797
    assert len(splits.val) == 359


def test_digits_det_is_deterministic_and_train_val_share_no_source(tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    build_digits_det(a, num_train=6, num_val=3, seed=1)
    build_digits_det(b, num_train=6, num_val=3, seed=1)
    files = _all_files(a)
    assert files == _all_files(b)
    assert all(filecmp.cmp(osp.join(a, f), osp.join(b, f), shallow=False) for f in files)
    assert not any(f.endswith('.tmp') for f in files)

    sources = {}
    for split, num in (('train', 6), ('val', 3)):
        coco = json.load(open(osp.join(a, 'annotations', f'instances_{split}.json')))
        assert [c['name'] for c in coco['categories']] == [str(i) for i in range(10)]
        assert [c['id'] for c in coco['categories']] == list(range(1, 11))
        assert len(coco['images']) == num
        ids = {img['id'] for img in coco['images']}
        for img in coco['images']:
            assert Image.open(osp.join(a, 'images', split, img['file_name'])).size == (128, 128)
        for ann in coco['annotations']:
            x, y, w, h = ann['bbox']
            assert ann['image_id'] in ids and 1 <= ann['category_id'] <= 10
            assert 0 <= x and 0 <= y and x + w <= 128 and y + h <= 128 and w > 0 and h > 0
        assert {a['id'] for a in coco['annotations']} == set(range(1, len(coco['annotations']) + 1))
        sources[split] = {ann['source_index'] for ann in coco['annotations']}
        assert sources[split] <= set(coco['info']['source_indices'])
    assert not sources['train'] & sources['val']


def test_digits_det_labels_match_sources(tmp_path):
    build_digits_det(str(tmp_path), num_train=4, num_val=0, seed=0)
    labels = load_digit_splits(0).labels
    coco = json.load(open(tmp_path / 'annotations' / 'instances_train.json'))
    assert all(ann['category_id'] - 1 == labels[ann['source_index']] for ann in coco['annotations'])


def test_digits_cls_format_and_every_source_once(tmp_path):
    ann_files = build_digits_cls(str(tmp_path), seed=0, size=32)
    seen = []
    labels = load_digit_splits(0).labels
    for split in ('train', 'val'):
        data = json.load(open(ann_files[split]))
        assert data['classes'] == [str(i) for i in range(10)] and data['seed'] == 0
        first = data['samples'][0]
        assert first['img_path'] == f'images/{split}/00000.png'
        img = np.asarray(Image.open(tmp_path / first['img_path']))
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8
        assert all(s['label'] == labels[s['source_index']] for s in data['samples'])
        seen.append([s['source_index'] for s in data['samples']])
    assert sorted(seen[0] + seen[1]) == list(range(1797))
    assert not set(seen[0]) & set(seen[1])
