# Teacher for Digits-Det, trained on the real train split. As in ViTDet, the plain ViT starts
# from a pretrained checkpoint: the Digits-Cls DeiT teacher (same width, depth, heads and 8x8
# patches), trained on the train split of the same source digits (same seed), so no val digit
# is seen. Its 4x4 position grid is interpolated to 16x16 and its class token dropped.
#   python tools/prepare_data.py digits-cls
#   python tools/train.py configs/teachers/deit_digits-cls.py
#   python tools/prepare_data.py digits-det
#   python tools/train.py configs/teachers/vitdet_digits-det.py
#   python tools/test.py configs/teachers/vitdet_digits-det.py work_dirs/vitdet_digits-det/iter_800.pth
_base_ = [
    '../_base_/models/vitdet-tiny_fcos.py',
    '../_base_/datasets/digits-det.py',
    '../_base_/schedules/teacher_vitdet.py',
]

# ---- values users change most ----
pretrained = 'work_dirs/deit_digits-cls/iter_1500.pth'

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
