# ImageNet-1k validation images in class-per-subfolder layout (the 1,000 synset folders,
# sorted, give the standard class indices 0..999):
#   data/imagenet/val/n01440764/ILSVRC2012_val_00000293.JPEG ...
# Evaluation as DeiT: resize the short side to 256 (bicubic), centre crop 224.
dataset_type = 'ImageFolderDataset'
data_root = 'data/imagenet/'

test_pipeline = [
    dict(type='LoadImageFromFile'),
    # keep_ratio: scale by min(4096 / long side, 256 / short side), i.e. short side -> 256.
    dict(type='Resize', scale=(4096, 256), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackClsInputs'),
]

val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(img_path='val'), test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='ClsAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
