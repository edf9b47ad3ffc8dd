import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from mmdfkd.registry import DATASETS
from mmdfkd.structures import ClsDataSample
from mmdfkd.testing import write_digits_cls_fixture


@pytest.fixture(autouse=True)
def mmdfkd_scope():
    init_default_scope('mmdfkd')  # pipelines resolve transform names in the default scope


PIPELINE = [dict(type='LoadImageFromFile'), dict(type='RandomPadCrop', padding=4), dict(type='PackClsInputs')]


def test_reads_the_fixed_format(tmp_path):
    root = write_digits_cls_fixture(str(tmp_path / 'digits-cls'), num_train=5, num_val=3)
    train = DATASETS.build(dict(type='DigitsClsDataset', data_root=root, pipeline=PIPELINE))
    val = DATASETS.build(dict(type='DigitsClsDataset', data_root=root, ann_file='annotations/val.json'))
    assert len(train) == 5 and len(val) == 3
    assert train.metainfo['classes'] == tuple(str(i) for i in range(10))
    info = val.get_data_info(0)
    assert info['img_path'].endswith('images/val/00000.png') and 0 <= info['gt_label'] < 10
    item = train[1]
    assert item['inputs'].shape == (3, 32, 32) and item['inputs'].dtype == torch.uint8
    sample = item['data_samples']
    assert isinstance(sample, ClsDataSample)
    assert sample.gt_label == train.get_data_info(1)['gt_label'] and sample.source_index == 1


def test_missing_root_names_the_prepare_command(tmp_path):
    with pytest.raises(FileNotFoundError, match='tools/prepare_data.py digits-cls --out'):
        DATASETS.build(dict(type='DigitsClsDataset', data_root=str(tmp_path / 'nowhere')))


def test_random_pad_crop_keeps_shape_and_shifts():
    from mmdfkd.datasets import RandomPadCrop
    img = np.zeros((8, 8, 3), dtype=np.uint8)
    img[3:5, 3:5] = 255
    outs = [RandomPadCrop(padding=2).transform(dict(img=img.copy()))['img'] for _ in range(30)]
    assert all(out.shape == img.shape for out in outs)
    assert all(out.sum() == img.sum() for out in outs)  # the blob never leaves the image
    assert any(not np.array_equal(out, img) for out in outs)
