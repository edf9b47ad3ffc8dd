# CIFAR-10 from its python pickles (https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz),
# extracted so that data/cifar10/cifar-10-batches-py/data_batch_1 exists. Images are held in
# memory by CIFAR10Dataset (BGR, like LoadImageFromFile), so no pipeline step loads a file.
dataset_type = 'CIFAR10Dataset'
data_root = 'data/cifar10/'

train_pipeline = [
    dict(type='RandomPadCrop', padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackClsInputs'),
]
test_pipeline = [dict(type='PackClsInputs')]

train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='ClsAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
