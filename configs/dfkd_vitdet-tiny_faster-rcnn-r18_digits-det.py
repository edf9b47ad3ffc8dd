# The headline (dfkd_vitdet_tiny.py) with a two-stage student: mmdet's Faster R-CNN (slim
# ResNet-18 + FPN, sized for 128x128 Digits-Det). A two-stage detector has no dense head to
# match the teacher's FCOS head with, so it learns from the teacher's detections through its own
# RPN and RoI losses (pseudo_label), plus feature KD on its FPN levels (strides 8, 16, 32 like
# the teacher's SimpleFPN). Any mmdet detector can be the student this way.
#
#   python tools/train.py configs/dfkd_vitdet-tiny_faster-rcnn-r18_digits-det.py
_base_ = './dfkd_vitdet_tiny.py'

# ---- values users change most ----
neck_channels = 64
pseudo_score_thr = 0.3   # teacher detections below this score are not pseudo ground truth

model = dict(
    student=dict(
        _delete_=True,
        type='FasterRCNN',
        data_preprocessor=dict(
            type='DetDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
            pad_size_divisor=32),
        backbone=dict(
            type='ResNet',
            depth=18,
            base_channels=16,
            num_stages=4,
            out_indices=(1, 2, 3),  # strides 8, 16, 32
            norm_cfg=dict(type='BN', requires_grad=True),
            norm_eval=False,
            style='pytorch'),
        neck=dict(type='FPN', in_channels=[32, 64, 128], out_channels=neck_channels, num_outs=3),
        rpn_head=dict(
            type='RPNHead',
            in_channels=neck_channels,
            feat_channels=neck_channels,
            # 24, 48 and 96 px anchors at strides 8, 16, 32: digits are 20-48 px
            anchor_generator=dict(type='AnchorGenerator', scales=[3], ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[1.0] * 4),
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        roi_head=dict(
            type='StandardRoIHead',
            bbox_roi_extractor=dict(
                type='SingleRoIExtractor',
                roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
                out_channels=neck_channels,
                featmap_strides=[8, 16, 32]),
            bbox_head=dict(
                type='Shared2FCBBoxHead',
                in_channels=neck_channels,
                fc_out_channels=256,
                roi_feat_size=7,
                num_classes=10,
                bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                                target_stds=[0.1, 0.1, 0.2, 0.2]),
                reg_class_agnostic=False,
                loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                loss_bbox=dict(type='L1Loss', loss_weight=1.0))),
        train_cfg=dict(
            rpn=dict(
                assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                              match_low_quality=True, ignore_iof_thr=-1),
                sampler=dict(type='RandomSampler', num=128, pos_fraction=0.5, neg_pos_ub=-1,
                             add_gt_as_proposals=False),
                allowed_border=-1,
                pos_weight=-1,
                debug=False),
            rpn_proposal=dict(nms_pre=1000, max_per_img=300, nms=dict(type='nms', iou_threshold=0.7),
                              min_bbox_size=0),
            rcnn=dict(
                assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                              match_low_quality=False, ignore_iof_thr=-1),
                sampler=dict(type='RandomSampler', num=128, pos_fraction=0.25, neg_pos_ub=-1,
                             add_gt_as_proposals=True),
                pos_weight=-1,
                debug=False)),
        test_cfg=dict(
            rpn=dict(nms_pre=1000, max_per_img=300, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0),
            rcnn=dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))),
    # No dense-head KD (a two-stage student has no `head` tap); feature KD on the FPN stays.
    distill_losses=dict(_delete_=True, feats=dict(type='FeatureKDLoss', tap='feats', loss_weight=1.0)),
    connectors=dict(feats=dict(type='ConvConnector', in_channels=neck_channels, out_channels=128)),
    # The teacher's detections are the student's only box supervision.
    pseudo_label=dict(score_thr=pseudo_score_thr, max_per_img=20, loss_weight=1.0))
