# A two-stage teacher distilled data-free into a one-stage student: the ViTDet-tiny Mask R-CNN-style
# teacher of configs/teachers/vitdet-mask-rcnn_digits-det.py (RPN + RoI box head) into the headline's
# pico ViT + FCOS student, scored on the real Digits-Det val split.
#
#   python tools/train.py configs/teachers/vitdet-mask-rcnn_digits-det.py   # the teacher
#   python tools/train.py configs/dfkd_vitdet-tiny-mask-rcnn_vit-pico_digits-det.py
#
# It is the headline (configs/dfkd_vitdet_tiny.py) with another teacher, so its ratio sits next to
# the FCOS teacher's in the README like for like. What changes with a two-stage teacher:
# - the generator's task prior is the teacher's own two-stage loss (RPN + RoI losses) against the
#   sampled layout (DetTaskPrior runs `teacher.loss`; a mask head gets box-filled masks);
# - a two-stage teacher has no dense head, so there is no dense-head KD: the student learns from
#   the teacher's detections as pseudo ground truth (through its own FCOS loss) and from FPN
#   feature KD (the teacher's SimpleFPN has the student's strides 8, 16, 32).
_base_ = './dfkd_vitdet_tiny.py'

teacher_config = 'configs/teachers/vitdet-mask-rcnn_digits-det.py'
teacher_checkpoint = 'work_dirs/vitdet-mask-rcnn_digits-det/iter_800.pth'

model = dict(
    teacher=dict(config=teacher_config, checkpoint=teacher_checkpoint),
    distill_losses=dict(_delete_=True, feats=dict(type='FeatureKDLoss', tap='feats', loss_weight=1.0)))
