# ViTDet-tiny with the two-stage head ViTDet is released with (Mask R-CNN: RPN + RoI box head,
# mask head optional), sized for 128x128 Digits-Det. The plain ViT and SimpleFPN are those of
# vitdet-tiny_fcos.py (patch 8, windowed + global attention; strides 8, 16, 32), so the two
# teachers differ only in the head. Digits-Det has no instance masks, so this base has no mask
# head; a child config may add ViTDet's (`roi_head.mask_roi_extractor` and `roi_head.mask_head`,
# as configs/teachers/vitdet-b_mask-rcnn_coco.py), and a data-free run then gives the teacher
# box-filled masks of the sampled layout (mmdfkd.models.tasks.add_box_masks).
# Lighter than ViTDet-B's head for a 2-core CPU: a 2-fc box head (ViTDet: 4 conv + 1 fc) and
# 128 sampled RoIs per image (ViTDet: 512).
_base_ = ['./vitdet-tiny_fcos.py']

num_classes = 10

model = dict(
    _delete_=True,  # the FCOS head and its test_cfg go; the preprocessor, ViT and pyramid are the base's
    type='FasterRCNN',
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}},
    neck={{_base_.model.neck}},
    rpn_head=dict(
        type='RPNHead',
        in_channels={{_base_.neck_channels}},
        feat_channels={{_base_.neck_channels}},
        num_convs=2,  # as ViTDet
        # Anchors of 16 and 32 px at stride 8, 32 and 64 at 16, 64 and 128 at 32: the range the
        # FCOS teacher's regress ranges cover at these strides.
        anchor_generator=dict(type='AnchorGenerator', scales=[2, 4], ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[1.0] * 4),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    roi_head=dict(
        type='StandardRoIHead',
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels={{_base_.neck_channels}},
            featmap_strides=[8, 16, 32]),
        bbox_head=dict(
            type='Shared2FCBBoxHead',
            in_channels={{_base_.neck_channels}},
            fc_out_channels=256,
            roi_feat_size=7,
            num_classes=num_classes,
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0))),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                          match_low_quality=True, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=128, pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=False),
            allowed_border=-1,
            pos_weight=-1,
            debug=False),
        rpn_proposal=dict(nms_pre=1000, max_per_img=300, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0),
        rcnn=dict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                          match_low_quality=True, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=128, pos_fraction=0.25, neg_pos_ub=-1, add_gt_as_proposals=True),
            mask_size=28,
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(
        rpn=dict(nms_pre=1000, max_per_img=300, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0),
        rcnn=dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100, mask_thr_binary=0.5)))
