# Glyphs-Cls: 40x40 photographs with one letter each. Create the files with
#   python tools/prepare_data.py glyphs-cls --out data/glyphs-cls
dataset_type = 'GlyphsClsDataset'
data_root = 'data/glyphs-cls/'

# ---- pipelines (no flips: they change letters) ----
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomPadCrop', padding=4),
    dict(type='PackClsInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackClsInputs'),
]

# ---- dataloaders ----
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/train.json',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/val.json',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# ---- evaluation ----
val_evaluator = dict(type='ClsAccuracy', topk=1)
test_evaluator = val_evaluator
