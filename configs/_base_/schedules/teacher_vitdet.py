# The ViTDet teacher recipe, shared by every detection teacher (configs/teachers/vitdet_*.py):
# AdamW as in ViTDet, warm-up then cosine. A teacher config restates `param_scheduler` when it
# changes `max_iters` or `lr` (a child's top-level variable does not reach back into this file).
# ---- values users change most ----
_base_ = ['../default_runtime.py']

max_iters = 800
lr = 1e-3

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
