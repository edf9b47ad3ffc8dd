# Two-stage teacher for Digits-Det: ViTDet-tiny with ViTDet's released head family (RPN + RoI box
# head; Digits-Det has no masks, so no mask head), trained on the real train split with the same
# recipe and the same pretrained ViT as the FCOS teacher (configs/teachers/vitdet_digits-det.py).
# Distilled data-free into the one-stage pico student by
# configs/dfkd_vitdet-tiny-mask-rcnn_vit-pico_digits-det.py.
#
# 0.690 mAP (AP50 0.902) on the 500 val images at iteration 800, single run, 41 min on 2 shared
# cores; the FCOS teacher reaches 0.784 with the same recipe. docs/results_teachers_det.md.
#   python tools/prepare_data.py digits-cls && python tools/train.py configs/teachers/deit_digits-cls.py
#   python tools/prepare_data.py digits-det
#   python tools/train.py configs/teachers/vitdet-mask-rcnn_digits-det.py
#   python tools/test.py configs/teachers/vitdet-mask-rcnn_digits-det.py \
#       work_dirs/vitdet-mask-rcnn_digits-det/iter_800.pth
_base_ = [
    '../_base_/models/vitdet-tiny_mask-rcnn.py',
    '../_base_/datasets/digits-det.py',
    '../_base_/schedules/teacher_vitdet.py',
]

# ---- values users change most ----
pretrained = 'work_dirs/deit_digits-cls/iter_1500.pth'

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

