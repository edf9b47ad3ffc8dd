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
    '../_base_/default_runtime.py',
]

# ---- values users change most ----
pretrained = 'work_dirs/deit_digits-cls/iter_1500.pth'
max_iters = 800
lr = 1e-3

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=400)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# AdamW as in ViTDet; no weight decay on position tables, norms and biases.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'rel_pos': dict(decay_mult=0.0),
        }),
    clip_grad=dict(max_norm=10.0, norm_type=2))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, T_max=max_iters - 50, eta_min=lr * 0.01),
]
