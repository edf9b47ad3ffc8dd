# Full-scale teacher: ViTDet ViT-B (MAE-pretrained) + SimpleFPN + FCOS on COCO at 1024 px.
# Needs a local MAE ViT-B checkpoint (e.g. mae_pretrain_vit_base.pth from the MAE release;
# timm / DeiT ViT-B/16 state dicts work too): put it at `pretrained` below, or pass
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/mae_pretrain_vit_base.pth
# Its 14x14 position embedding is interpolated to the 64x64 grid of 1024 px inputs.
#   python tools/train.py configs/teachers/vitdet-b_coco.py --launcher pytorch   (GPUs)
# Only generic bases: COCO at 1024 px and the runtime. The model is stated here in full (the
# Digits-Det detector in _base_/models/vitdet-tiny_fcos.py is sized for 128 px digits).
_base_ = [
    '../_base_/datasets/coco-det_lsj-1024.py',
    '../_base_/default_runtime.py',
]

# ---- values users change most ----
pretrained = 'checkpoints/mae_pretrain_vit_base.pth'  # user-supplied, not downloaded
max_iters = 184375  # ViTDet's 100 epochs at 64 images per iteration
lr = 1e-4

embed_dim = 768
neck_channels = 256

# ViTDet-B: plain ViT-B/16 (windowed attention, 14x14 windows; global attention in blocks 2, 5,
# 8, 11; relative positions) -> SimpleFPN -> FCOS head, as configs/_base_/models/vitdet-tiny_fcos.py
# but at COCO scale.
model = dict(
    type='FCOS',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1024),
    backbone=dict(
        type='ViT',
        img_size=1024,
        patch_size=16,
        embed_dim=embed_dim,
        depth=12,
        num_heads=12,
        window_size=14,
        global_attn_indexes=(2, 5, 8, 11),
        drop_path_rate=0.1,
        use_rel_pos=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    # strides 8, 16, 32 from the stride-16 map, then 64 and 128 by subsampling (P6, P7).
    neck=dict(type='SimpleFPN', in_channels=embed_dim, out_channels=neck_channels, scale_factors=(2.0, 1.0, 0.5),
              num_outs=5),
    bbox_head=dict(
        type='FCOSHead',
        num_classes=80,
        in_channels=neck_channels,
        stacked_convs=4,
        feat_channels=neck_channels,
        strides=[8, 16, 32, 64, 128],
        # FCOS's COCO ranges
        regress_ranges=((-1, 64), (64, 128), (128, 256), (256, 512), (512, 1e8)),
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        norm_on_bbox=True,
        centerness_on_reg=True,
        center_sampling=True,
        conv_bias=True,
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    # NMS IoU 0.6 as the Digits-Det detectors (mmdet's FCOS COCO configs use 0.5)
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.6),
                  max_per_img=100))

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'rel_pos': dict(decay_mult=0.0),
        }),
    clip_grad=dict(max_norm=10.0, norm_type=2))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[163889, 177546], gamma=0.1),
]

default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=10000, by_epoch=False, max_keep_ckpts=3))

# lr above is for 64 images per iteration (16 GPUs x 4); with another total batch size add
# `--cfg-options auto_scale_lr.enable=True` to scale it linearly.
auto_scale_lr = dict(enable=False, base_batch_size=64)
