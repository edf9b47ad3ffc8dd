# Teacher for Glyphs-Cls (40x40 photographs with one letter each), trained on the real train split
# with the DeiT teacher recipe of Digits-Cls (configs/_base_/schedules/teacher_deit.py). As users
# start from a pretrained ViT, it starts from the Digits-Cls DeiT, its 4x4 position table
# resampled to 5x5 (TimmClassifier `pretrained`):
#   python tools/prepare_data.py glyphs-cls
#   python tools/train.py configs/teachers/deit_glyphs-cls.py
#   python tools/test.py configs/teachers/deit_glyphs-cls.py work_dirs/deit_glyphs-cls/iter_1500.pth
_base_ = [
    '../_base_/models/deit-nano_cls.py',
    '../_base_/datasets/glyphs-cls.py',
    '../_base_/schedules/teacher_deit.py',
]

# ---- values users change most ----
pretrained = 'work_dirs/deit_digits-cls/iter_1500.pth'
img_size = 40
max_iters = 1500
lr = 5e-4

model = dict(model_kwargs=dict(img_size=img_size), pretrained=pretrained)

train_cfg = dict(max_iters=max_iters, val_interval=500)
optim_wrapper = dict(optimizer=dict(lr=lr))  # lower than Digits': the photographs need a gentler start
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, T_max=max_iters - 100, eta_min=lr * 0.01),
]
