# Full scale, the released architecture: ViTDet-B Mask R-CNN on COCO (configs/teachers/vitdet-b_mask-rcnn_coco.py,
# as MMDetection's and detectron2's ViTDet projects release it) distilled WITHOUT COCO's training images
# into the ViT-S FCOS student of configs/dfkd_vitdet-b_vit-s_coco.py, scored on real COCO val2017.
#
#   # your checkpoint, trained by tools/train.py on the teacher config:
#   bash tools/dist_train.sh configs/dfkd_vitdet-b-mask-rcnn_vit-s_coco.py 8 \
#       --cfg-options model.teacher.checkpoint=PATH
#   # a checkpoint released by MMDetection's or detectron2's ViTDet project:
#   configs/dfkd_vitdet-b-mask-rcnn_vit-s_coco_from-mmdet.py, ..._from-detectron2.py
#
# The same method as the one-stage COCO config (pixel inversion on sampled layouts, replay memory,
# pseudo labels, FPN feature KD); what a two-stage teacher changes:
# - the task prior is the teacher's own Mask R-CNN loss (RPN + box + mask) against the layout, whose
#   boxes give box-filled masks (mmdfkd.models.tasks.add_box_masks);
# - no dense-head KD (the teacher has no dense head): the student learns from the teacher's
#   detections as pseudo ground truth and from its FPN features;
# - the student's pyramid has the teacher's strides (4, 8, 16, 32, 64), so FPN level i of one is
#   compared with level i of the other.
_base_ = './dfkd_vitdet-b_vit-s_coco.py'

# ---- values users change most ----
teacher_config = 'configs/teachers/vitdet-b_mask-rcnn_coco.py'
teacher_checkpoint = 'checkpoints/vitdet-b_mask-rcnn_coco.pth'  # user-supplied, not downloaded
checkpoint_layout = 'auto'  # 'mmdfkd', 'mmdet-vitdet' or 'detectron2-vitdet' (mmdfkd/models/checkpoint_layouts.py)

model = dict(
    teacher=dict(config=teacher_config, checkpoint=teacher_checkpoint, checkpoint_layout=checkpoint_layout),
    student=dict(
        neck=dict(scale_factors=(4.0, 2.0, 1.0, 0.5), num_outs=5),
        # FCOS's COCO ranges (strides 8-128) moved down one octave with the strides
        bbox_head=dict(strides=[4, 8, 16, 32, 64],
                       regress_ranges=((-1, 32), (32, 64), (64, 128), (128, 256), (256, 1e8)))),
    distill_losses=dict(_delete_=True, feats=dict(type='FeatureKDLoss', tap='feats', loss_weight=1.0)))
