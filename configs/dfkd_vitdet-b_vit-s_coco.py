# Full scale: the COCO ViTDet-B teacher (configs/teachers/vitdet-b_coco.py) distilled WITHOUT
# COCO's training images into a ViT-S-sized ViTDet student (about 1/3 of the teacher's
# parameters), scored on real COCO val2017. Method as dfkd_vitdet-tiny_vit-pico_digits-det_pixel-gen.py: per-image model
# inversion on sampled layouts at 1024x1024, replay memory, dense-head + feature KD + pseudo labels.
# (The Digits headline's flat-ink sprites model shapes, not COCO's textured objects; they are untried here.)
#
#   # the teacher's weights are yours: train it (configs/teachers/vitdet-b_coco.py) or convert
#   # one, and put it at `teacher_checkpoint` below (or pass --cfg-options model.teacher.checkpoint=PATH)
#   bash tools/dist_train.sh configs/dfkd_vitdet-b_vit-s_coco.py 8
#
# Only COCO val2017 is read (data/coco/annotations/instances_val2017.json, data/coco/val2017/).
# For a cheaper amortised generator, take `generator`/`priors`/`generator_steps` from
# dfkd_vitdet-tiny_vit-pico_digits-det_conv-gen.py (set ConvGenerator num_classes=80 and more stages for 1024 px).
_base_ = './dfkd_vitdet-tiny_vit-pico_digits-det_pixel-gen.py'

# ---- values users change most ----
teacher_config = 'configs/teachers/vitdet-b_coco.py'
teacher_checkpoint = 'checkpoints/vitdet-b_coco.pth'  # user-supplied, not downloaded
max_iters = 20000
batch_size = 4           # synthetic images per GPU per iteration
inversion_steps = 100    # pixel-bank optimisation steps per batch
student_steps = 4
img_size = 1024
memory_capacity = 512    # replayed images per process: 512 x 3 x 1024 x 1024 uint8 = 1.6 GB of CPU memory
lr = 1e-4                # student AdamW lr for 32 images per iteration in total (8 GPUs x 4)

embed_dim = 384          # ViT-S width
neck_channels = 256      # as the teacher's, so FPN features compare 1:1 after the connector

coco_classes = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
    'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
    'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
    'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
    'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone',
    'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush')

model = dict(
    teacher=dict(config=teacher_config, checkpoint=teacher_checkpoint),
    # The headline's pico ViT student (configs/_base_/models/student_vit-pico_fcos.py) grown to ViT-S
    # at 1024 px, with the teacher's FCOS levels (strides 8-128) and 80 classes for dense-head KD.
    student=dict(
        data_preprocessor=dict(pad_size_divisor=1024),
        backbone=dict(img_size=img_size, patch_size=16, embed_dim=embed_dim, depth=12, num_heads=6, window_size=14,
                      global_attn_indexes=(2, 5, 8, 11), drop_path_rate=0.1),
        neck=dict(in_channels=embed_dim, out_channels=neck_channels, scale_factors=(2.0, 1.0, 0.5), num_outs=5),
        bbox_head=dict(
            num_classes=80,
            in_channels=neck_channels,
            feat_channels=neck_channels,
            stacked_convs=2,
            strides=[8, 16, 32, 64, 128],
            regress_ranges=((-1, 64), (64, 128), (128, 256), (256, 512), (512, 1e8)))),
    generator=dict(img_size=img_size, batch_size=batch_size),
    layout_sampler=dict(min_size=32, max_size=512, max_objects=6, aspect_range=(0.5, 2.0)),
    augment=dict(jitter=32, flip=True, scale_range=(0.8, 1.2)),  # COCO objects survive a mirror
    connectors=dict(feats=dict(in_channels=neck_channels, out_channels=neck_channels)),
    pseudo_label=dict(max_per_img=50),
    generator_steps=inversion_steps,
    student_steps=student_steps,
    memory_capacity=memory_capacity)

train_dataloader = dict(batch_size=batch_size, dataset=dict(metainfo=dict(classes=coco_classes)))
train_cfg = dict(max_iters=max_iters, val_interval=5000)

# Real COCO val2017, as configs/_base_/datasets/coco-det_lsj-1024.py (restated: a config cannot
# inherit `val_dataloader` from a second base that also defines it; tests check they stay equal).
coco_root = 'data/coco/'
val_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoDataset',
        data_root=coco_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=[
            dict(type='LoadImageFromFile', backend_args=None),
            dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
        ],
        backend_args=None))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=coco_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

optim_wrapper = dict(
    student=dict(
        optimizer=dict(lr=lr, weight_decay=0.1),
        paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                           custom_keys={'pos_embed': dict(decay_mult=0.0), 'rel_pos': dict(decay_mult=0.0)})))
param_scheduler = dict(student=[
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=250, end=max_iters, T_max=max_iters - 250,
         eta_min=lr * 0.01)])

custom_hooks = [dict(type='SyntheticImageHook', interval=500)]
default_hooks = dict(checkpoint=dict(interval=2000))
