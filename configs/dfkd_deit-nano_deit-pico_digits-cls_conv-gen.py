# dfkd_deit-nano_deit-pico_digits-cls.py with a ConvGenerator (DAFL / DFAD) instead of the seed
# paper's transformer generator: same teacher, student, losses and priors; only the generator,
# the student steps per iteration and the schedule change (tests/test_configs/ checks it).
# 3 student steps per generator step: 0.969 top-1 in 350 iterations (2 steps, 400: 0.911).
#
#   python tools/train.py configs/dfkd_deit-nano_deit-pico_digits-cls_conv-gen.py
_base_ = './dfkd_deit-nano_deit-pico_digits-cls.py'

max_iters = 350          # ~1.1 s each on one CPU thread

model = dict(
    generator=dict(_delete_=True, type='ConvGenerator', img_size={{_base_.img_size}}, latent_dim=256),
    generator_steps=1,
    student_steps=3)

train_cfg = dict(max_iters=max_iters)
param_scheduler = dict(student=[
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=max_iters, T_max=max_iters - 20, eta_min=1e-5),
])
