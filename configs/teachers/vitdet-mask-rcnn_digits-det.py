# Two-stage teacher for Digits-Det: ViTDet-tiny with ViTDet's released head family (RPN + RoI box
# head; Digits-Det has no masks, so no mask head), trained on the real train split with the same
# recipe and the same pretrained ViT as the FCOS teacher (configs/teachers/vitdet_digits-det.py).
# Distilled data-free into the one-stage pico student by
# configs/dfkd_vitdet-tiny-mask-rcnn_vit-pico_digits-det.py.
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

# The RoI head at a tenth of the recipe's lr (1e-4). At the full 1e-3 its fully connected layers
# collapsed within ~150 iterations (25 of 256 units of the shared fc alive at the ground-truth boxes,
# class scores uniform, mAP 0.004 at iteration 400); the ViT, the pyramid and the RPN learn at 1e-3.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'roi_head': dict(lr_mult=0.1)}))
