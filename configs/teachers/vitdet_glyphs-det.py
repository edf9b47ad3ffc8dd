# Teacher for Glyphs-Det (160x160 photographs with 1-8 translucent letters each), trained on the
# real train split with the Digits-Det teacher recipe (configs/_base_/schedules/teacher_vitdet.py):
# the same ViTDet-tiny FCOS detector, its plain ViT started from the Digits-Cls DeiT (position
# grid interpolated to 20x20).
#   python tools/prepare_data.py digits-cls && python tools/train.py configs/teachers/deit_digits-cls.py
#   python tools/prepare_data.py glyphs-det
#   python tools/train.py configs/teachers/vitdet_glyphs-det.py
#   python tools/test.py configs/teachers/vitdet_glyphs-det.py work_dirs/vitdet_glyphs-det/iter_800.pth
_base_ = [
    '../_base_/models/vitdet-tiny_fcos.py',
    '../_base_/datasets/glyphs-det.py',
    '../_base_/schedules/teacher_vitdet.py',
]

# ---- values users change most ----
pretrained = 'work_dirs/deit_digits-cls/iter_1500.pth'
img_size = 160

model = dict(backbone=dict(img_size=img_size, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
