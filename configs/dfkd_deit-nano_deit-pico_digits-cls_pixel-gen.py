# dfkd_deit-nano_deit-pico_digits-cls.py with a PixelBankGenerator (model inversion,
# DeepInversion-style) instead of the seed paper's transformer generator: a bank of
# `batch_size` images, re-drawn every iteration and optimised for `inversion_steps` steps with
# the same priors. Only the generator, its steps and lr, the student steps and the schedule
# change (tests/test_configs/ checks it).
#
#   python tools/train.py configs/dfkd_deit-nano_deit-pico_digits-cls_pixel-gen.py
_base_ = './dfkd_deit-nano_deit-pico_digits-cls.py'

max_iters = 120          # ~4.3 s each on one CPU thread
inversion_steps = 20     # optimisation steps of each bank

model = dict(
    # the bank holds exactly one batch: its batch_size must equal train_dataloader.batch_size
    generator=dict(_delete_=True, type='PixelBankGenerator', img_size={{_base_.img_size}},
                   batch_size={{_base_.batch_size}}),
    generator_steps=inversion_steps,
    student_steps=4)

train_cfg = dict(max_iters=max_iters)
optim_wrapper = dict(generator=dict(optimizer=dict(lr=0.1)))
param_scheduler = dict(student=[
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=max_iters, T_max=max_iters - 20, eta_min=1e-5),
])
