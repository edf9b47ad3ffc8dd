# The DeiT teacher recipe, shared by every classification teacher (configs/teachers/deit_*.py):
# AdamW, warm-up then cosine, best-top-1 checkpoints. A teacher config states `max_iters` and
# `lr` and restates `param_scheduler` when it changes them (a child's top-level variable does
# not reach back into this file).
# ---- schedule: values users change most ----
_base_ = ['../default_runtime.py']

max_iters = 1500
lr = 1e-3

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# AdamW as in DeiT; no weight decay on norms, biases, position table and class token.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0),
        }),
    clip_grad=dict(max_norm=5.0, norm_type=2))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, T_max=max_iters - 100, eta_min=lr * 0.01),
]

default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', interval=500, by_epoch=False, max_keep_ckpts=1,
                    save_best='accuracy/top1', rule='greater'))
