# ViTDet-B Mask R-CNN on COCO as released by MMDetection (projects/ViTDet,
# vitdet_mask-rcnn_vit-b-mae_lsj-100e) and detectron2 (projects/ViTDet, mask_rcnn_vitdet_b_100ep),
# built from our modules so that their checkpoints load (configs/dfkd_vitdet-b-mask-rcnn_vit-s_coco_from-*.py):
# ViT-B/16 at 1024 px, 14x14 windows, global attention in blocks 2, 5, 8, 11, relative positions;
# SimpleFPN (scales 4, 2, 1, 0.5 + a max-pooled P6, LN2d); RPN with 2 convs; a 4-conv (LN2d) 1-fc box
# head with class-specific boxes; a 4-conv (LN2d) mask head.
# Schedule, optimizer and COCO-1024 LSJ data as configs/teachers/vitdet-b_coco.py; the training pipeline
# adds the masks. To train it from MAE weights:
#   python tools/train.py configs/teachers/vitdet-b_mask-rcnn_coco.py --launcher pytorch   (GPUs)
_base_ = ['./vitdet-b_coco.py']

pretrained = 'checkpoints/mae_pretrain_vit_base.pth'  # user-supplied, not downloaded
embed_dim = 768
neck_channels = 256
num_classes = 80
image_size = (1024, 1024)
norm_cfg = dict(type='LN2d', requires_grad=True)

model = dict(
    _delete_=True,
    type='MaskRCNN',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_mask=True,
        pad_size_divisor=32,
        batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    backbone=dict(
        type='ViT',
        img_size=image_size[0],
        patch_size=16,
        embed_dim=embed_dim,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        window_size=14,
        global_attn_indexes=(2, 5, 8, 11),
        drop_path_rate=0.1,
        use_rel_pos=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='SimpleFPN', in_channels=embed_dim, out_channels=neck_channels,
              scale_factors=(4.0, 2.0, 1.0, 0.5), num_outs=5),
    rpn_head=dict(
        type='RPNHead',
        in_channels=neck_channels,
        feat_channels=neck_channels,
        num_convs=2,
        anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[1.0] * 4),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    roi_head=dict(
        type='StandardRoIHead',
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=neck_channels,
            featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            in_channels=neck_channels,
            conv_out_channels=neck_channels,
            fc_out_channels=1024,
            roi_feat_size=7,
            num_classes=num_classes,
            norm_cfg=norm_cfg,
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        mask_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
            out_channels=neck_channels,
            featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(
            type='FCNMaskHead',
            num_convs=4,
            in_channels=neck_channels,
            conv_out_channels=neck_channels,
            num_classes=num_classes,
            norm_cfg=norm_cfg,
            loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                          match_low_quality=True, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=256, pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=False),
            allowed_border=-1,
            pos_weight=-1,
            debug=False),
        rpn_proposal=dict(nms_pre=2000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0),
        rcnn=dict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                          match_low_quality=True, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=512, pos_fraction=0.25, neg_pos_ub=-1, add_gt_as_proposals=True),
            mask_size=28,
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(
        rpn=dict(nms_pre=1000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0),
        rcnn=dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100, mask_thr_binary=0.5)))

# LSJ as in the base, with instance masks for the mask head.
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size, recompute_bbox=True,
         allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]))
