# Teacher for Glyphs-Det (160x160 photographs with 1-8 translucent letters each), trained on the
# real train split with the Digits-Det teacher recipe (configs/_base_/schedules/teacher_vitdet.py):
# the same ViTDet-tiny FCOS detector as a hybrid ViT (backbone stem='conv', as the Glyphs-Cls
# teacher), its backbone started from the Glyphs-Cls teacher (position grid interpolated from 5x5
# to 20x20), as users start from a classifier pretrained on photographs. Glyphs-Cls crops only
# the left 70 % of every background source, so no Glyphs-Det val pixel was in its training data.
# Started from the plain Digits-Cls DeiT, this detector reached 0.107 mAP (README, "Teachers").
#   python tools/prepare_data.py glyphs-cls && python tools/train.py configs/teachers/deit_glyphs-cls.py
#   python tools/prepare_data.py glyphs-det
#   python tools/train.py configs/teachers/vitdet_glyphs-det.py
#   python tools/test.py configs/teachers/vitdet_glyphs-det.py work_dirs/vitdet_glyphs-det/iter_800.pth
_base_ = [
    '../_base_/models/vitdet-tiny_fcos.py',
    '../_base_/datasets/glyphs-det.py',
    '../_base_/schedules/teacher_vitdet.py',
]

# ---- values users change most ----
pretrained = 'work_dirs/deit_glyphs-cls/iter_1500.pth'
img_size = 160

model = dict(backbone=dict(img_size=img_size, stem='conv', init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
