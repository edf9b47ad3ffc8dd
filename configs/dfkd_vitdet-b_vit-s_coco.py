# Full scale: the COCO ViTDet-B teacher (configs/teachers/vitdet-b_coco.py) distilled WITHOUT
# COCO's training images into a ViT-S-sized ViTDet student (about 1/3 of the teacher's
# parameters), scored on real COCO val2017. Method as the Digits-Det pixel inversion
# (dfkd_vitdet-tiny_vit-pico_digits-det_pixel-gen.py): per-image model inversion on sampled layouts
# at 1024x1024, replay memory, dense-head + feature KD + pseudo labels.
# (The Digits headline's flat-ink sprites model shapes, not COCO's textured objects; they are untried here.)
#
#   # the teacher's weights are yours: train it (configs/teachers/vitdet-b_coco.py) or convert
#   # one, and put it at `teacher_checkpoint` below (or pass --cfg-options model.teacher.checkpoint=PATH)
#   bash tools/dist_train.sh configs/dfkd_vitdet-b_vit-s_coco.py 8
#
# Only COCO val2017 is read (data/coco/annotations/instances_val2017.json, data/coco/val2017/).
# For a cheaper amortised generator, take `generator`/`priors`/`generator_steps` from
# dfkd_vitdet-tiny_vit-pico_digits-det_conv-gen.py (set ConvGenerator num_classes=80 and more stages for 1024 px).
#
# Only generic bases (COCO at 1024 px, the runtime): every method value is stated here. Values
# first chosen on Digits-Det and kept, untried on COCO: pixels optimised at half resolution
# (param_downsample=2), TV 20 / L2 0.01 priors, the bank's Adam lr 0.1, refine_ratio 0.5, pseudo
# labels above score 0.3, student clip_grad 10.
_base_ = [
    './_base_/datasets/coco-det_lsj-1024.py',  # the real val2017 loader and CocoMetric
    './_base_/default_runtime.py',
]
from mmdet.datasets import coco  # noqa: E402 (a module: not part of the config)

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

coco_classes = coco.CocoDataset.METAINFO['classes']

model = dict(
    type='DataFreeDistiller',
    task='det',
    teacher=dict(config=teacher_config, checkpoint=teacher_checkpoint),
    # The teacher's ViTDet (ViT/16, 1024 px, 14x14 windows, global blocks 2, 5, 8, 11, SimpleFPN,
    # FCOS on strides 8-128 with 80 classes) at ViT-S width, with 2 head convs instead of 4.
    student=dict(
        type='FCOS',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=1024),
        backbone=dict(type='ViT', img_size=img_size, patch_size=16, embed_dim=embed_dim, depth=12, num_heads=6,
                      window_size=14, global_attn_indexes=(2, 5, 8, 11), drop_path_rate=0.1, use_rel_pos=True),
        neck=dict(type='SimpleFPN', in_channels=embed_dim, out_channels=neck_channels, scale_factors=(2.0, 1.0, 0.5),
                  num_outs=5),
        bbox_head=dict(
            type='FCOSHead',
            num_classes=80,
            in_channels=neck_channels,
            stacked_convs=2,
            feat_channels=neck_channels,
            strides=[8, 16, 32, 64, 128],
            regress_ranges=((-1, 64), (64, 128), (128, 256), (256, 512), (512, 1e8)),
            norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
            norm_on_bbox=True,
            centerness_on_reg=True,
            center_sampling=True,
            conv_bias=True,
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
            loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
            loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
        test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.6),
                      max_per_img=100)),
    generator=dict(type='PixelBankGenerator', img_size=img_size, batch_size=batch_size, param_downsample=2),
    layout_sampler=dict(type='LayoutSampler', min_size=32, max_size=512, max_objects=6, aspect_range=(0.5, 2.0)),
    # COCO objects survive a mirror
    augment=dict(type='DifferentiableAugment', jitter=32, flip=True, scale_range=(0.8, 1.2)),
    priors=dict(
        task=dict(type='DetTaskPrior', loss_weight=1.0),
        tv=dict(type='TVPrior', loss_weight=20.0),
        l2=dict(type='L2Prior', loss_weight=0.01)),
    distill_losses=dict(
        head=dict(type='DenseHeadKDLoss', tap='head', loss_weight=1.0),
        feats=dict(type='FeatureKDLoss', tap='feats', loss_weight=1.0)),
    connectors=dict(feats=dict(type='ConvConnector', in_channels=neck_channels, out_channels=neck_channels)),
    pseudo_label=dict(score_thr=0.3, loss_weight=1.0, max_per_img=50),
    generator_steps=inversion_steps,
    student_steps=student_steps,
    fresh_student_batches=False,
    generator_warmup_iters=0,
    memory_capacity=memory_capacity,
    # half of every new bank continues optimising remembered images (with their layouts)
    refine_ratio=0.5)

train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    # No images: the distiller synthesises them.
    dataset=dict(type='LatentDataset', metainfo=dict(classes=coco_classes)))
# val_dataloader / val_evaluator: real COCO val2017 with CocoMetric, from _base_.

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
# Validation during training scores a fixed 500-image subset of the val split; the validation after
# the last iteration (and tools/test.py) scores all of it.
val_cfg = dict(type='SubsetValLoop', num_samples=500)
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    constructor='DataFreeOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='Adam', lr=0.1, betas=(0.5, 0.99))),
    student=dict(
        optimizer=dict(type='AdamW', lr=lr, weight_decay=0.1),
        clip_grad=dict(max_norm=10.0),
        paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                           custom_keys={'pos_embed': dict(decay_mult=0.0), 'rel_pos': dict(decay_mult=0.0)})))
# MMEngine wants a schedule per optimizer: the generator keeps its lr.
param_scheduler = dict(
    generator=[dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=max_iters)],
    student=[
        dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=250, end=max_iters, T_max=max_iters - 250,
             eta_min=lr * 0.01)])

custom_hooks = [dict(type='SyntheticImageHook', interval=500)]
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=2000, by_epoch=False, max_keep_ckpts=2),
                     logger=dict(log_metric_by_epoch=False))

# Distributed (tools/dist_train.sh CONFIG N): every rank synthesises its own images, gradients are averaged.
model_wrapper_cfg = dict(type='DataFreeDDP')
randomness = dict(seed=0, diff_rank_seed=True)
