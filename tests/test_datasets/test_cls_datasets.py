"""CIFAR10Dataset and ImageFolderDataset on tiny fixtures, through MMEngine pipelines."""
import os
import pickle

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from mmdfkd.registry import DATASETS
from mmdfkd.structures import ClsDataSample

init_default_scope('mmdfkd')
CIFAR_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')


def write_fake_cifar(root, num_batches: int = 2, per_batch: int = 3, seed: int = 0) -> str:
    """The CIFAR-10 python layout (bytes keys, as the real files) with random images."""
    rng = np.random.RandomState(seed)
    folder = root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    with open(folder / 'batches.meta', 'wb') as f:
        pickle.dump({b'label_names': [c.encode() for c in CIFAR_CLASSES], b'num_vis': 3072}, f)
    names = [f'data_batch_{i}' for i in range(1, num_batches + 1)] + ['test_batch']
    for name in names:
        batch = {b'batch_label': name.encode(), b'labels': rng.randint(0, 10, per_batch).tolist(),
                 b'data': rng.randint(0, 256, (per_batch, 3072)).astype(np.uint8)}
        with open(folder / name, 'wb') as f:
            pickle.dump(batch, f)
    return str(root)


def test_cifar_reads_pickles_into_memory_and_packs(tmp_path):
    root = write_fake_cifar(tmp_path / 'cifar')
    pipeline = [dict(type='RandomPadCrop', padding=4), dict(type='PackClsInputs')]
    train = DATASETS.build(dict(type='CIFAR10Dataset', data_root=root, pipeline=pipeline,
                                train_batches=['data_batch_1', 'data_batch_2']))
    test = DATASETS.build(dict(type='CIFAR10Dataset', data_root=root + '/cifar-10-batches-py', split='test',
                               test_mode=True, pipeline=[dict(type='PackClsInputs')]))
    assert len(train) == 6 and len(test) == 3
    assert train.metainfo['classes'] == CIFAR_CLASSES
    # The first image of test_batch, decoded by hand: planes R, G, B; stored BGR like LoadImageFromFile.
    with open(os.path.join(root, 'cifar-10-batches-py', 'test_batch'), 'rb') as f:
        raw = pickle.load(f, encoding='bytes')
    rgb = raw[b'data'][0].reshape(3, 32, 32)
    item = test[0]
    assert item['inputs'].dtype == torch.uint8 and item['inputs'].shape == (3, 32, 32)
    assert torch.equal(item['inputs'], torch.from_numpy(rgb[::-1].copy()))
    assert isinstance(item['data_samples'], ClsDataSample)
    assert int(item['data_samples'].gt_label) == raw[b'labels'][0]
    assert train[5]['inputs'].shape == (3, 32, 32)
    rgb_set = DATASETS.build(dict(type='CIFAR10Dataset', data_root=root, split='test', channel_order='rgb'))
    assert np.array_equal(rgb_set.get_data_info(0)['img'], rgb.transpose(1, 2, 0))


def test_cifar_missing_files_say_what_and_where(tmp_path):
    root = write_fake_cifar(tmp_path / 'cifar')
    with pytest.raises(FileNotFoundError, match=r"\['data_batch_3', 'data_batch_4', 'data_batch_5'\].*"
                                                r'cifar-10-python.tar.gz'):
        DATASETS.build(dict(type='CIFAR10Dataset', data_root=root))


def test_cifar_refuses_pickles_with_code(tmp_path):
    root = write_fake_cifar(tmp_path / 'cifar')
    with open(tmp_path / 'cifar' / 'cifar-10-batches-py' / 'test_batch', 'wb') as f:
        pickle.dump({b'data': os.getcwd, b'labels': []}, f)
    with pytest.raises(pickle.UnpicklingError, match='not allowed'):
        DATASETS.build(dict(type='CIFAR10Dataset', data_root=root, split='test'))


def write_image_folder(root) -> str:
    for cls, num in (('dog', 2), ('cat', 3)):
        (root / cls / 'sub').mkdir(parents=True)
        for i in range(num):
            cv2.imwrite(str(root / cls / f'{i}.PNG'), np.full((8, 10, 3), 40 * i, np.uint8))
        (root / cls / 'notes.txt').write_text('not an image')
    cv2.imwrite(str(root / 'cat' / 'sub' / 'deep.jpg'), np.zeros((8, 10, 3), np.uint8))
    return str(root)


def test_image_folder_sorted_classes_extensions_and_pipeline(tmp_path):
    root = write_image_folder(tmp_path / 'train')
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackClsInputs')]
    ds = DATASETS.build(dict(type='ImageFolderDataset', data_root=root, pipeline=pipeline))
    assert ds.metainfo['classes'] == ('cat', 'dog')
    labels = [ds.get_data_info(i)['gt_label'] for i in range(len(ds))]
    assert labels == [0, 0, 0, 0, 1, 1]  # 3 cat files + sub/deep.jpg, 2 dog files; no .txt
    item = ds[4]
    assert item['inputs'].shape == (3, 8, 10) and int(item['data_samples'].gt_label) == 1
    assert item['data_samples'].img_path.endswith('dog/0.PNG')

    png_only = DATASETS.build(dict(type='ImageFolderDataset', data_root=str(tmp_path), extensions=['png'],
                                   data_prefix=dict(img_path='train'), metainfo=dict(classes=('dog', 'cat'))))
    assert png_only.metainfo['classes'] == ('dog', 'cat')
    assert [png_only.get_data_info(i)['gt_label'] for i in range(len(png_only))] == [0, 0, 1, 1, 1]


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        DATASETS.build(dict(type='ImageFolderDataset', data_root=str(tmp_path / 'none')))
    (tmp_path / 'empty' / 'a').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='no files with extensions'):
        DATASETS.build(dict(type='ImageFolderDataset', data_root=str(tmp_path / 'empty')))
