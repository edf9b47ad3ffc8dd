# Glyphs-Det: 160x160 photographs with 1-8 translucent letters each, 10 classes.
# Build it with `python tools/prepare_data.py glyphs-det` (writes data/glyphs-det/).
# Data elsewhere: edit `data_root` below, or override every place that uses it:
#   --cfg-options train_dataloader.dataset.data_root=DIR/ val_dataloader.dataset.data_root=DIR/
#       test_dataloader.dataset.data_root=DIR/ val_evaluator.ann_file=DIR/annotations/instances_val.json
#       test_evaluator.ann_file=DIR/annotations/instances_val.json
_base_ = []  # no bases; stated so that MMEngine reads this as a classic config, which may import
from mmdfkd.datasets import glyphs  # noqa: E402 (the builder; a module: not part of the config)

data_root = 'data/glyphs-det/'
img_scale = (160, 160)
batch_size = 16

dataset_type = 'CocoDataset'
metainfo = dict(classes=glyphs.GLYPH_CLASSES)  # the category names tools/prepare_data.py writes
backend_args = None

# No RandomFlip: a mirrored letter is a different (or no) letter.
# Resize is a no-op on 160x160 images; it records `scale_factor` for predictions.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/train/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/val/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val.json',
    metric='bbox',
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
