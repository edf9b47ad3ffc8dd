# dfkd_deit-s_deit-ti_cifar10.py with a PixelBankGenerator (model inversion, DeepInversion-style)
# instead of the seed paper's transformer generator: a bank of `batch_size` images re-drawn every
# iteration and optimised for `inversion_steps` steps; everything else is the base's
# (tests/test_configs/ checks it).
#
#   python tools/train.py configs/dfkd_deit-s_deit-ti_cifar10_pixel-gen.py \
#       --cfg-options model.teacher.checkpoint=checkpoints/deit-s_cifar10.pth
_base_ = './dfkd_deit-s_deit-ti_cifar10.py'

inversion_steps = 200    # optimisation steps of each bank

model = dict(
    # the bank holds exactly one batch: its batch_size must equal train_dataloader.batch_size
    generator=dict(_delete_=True, type='PixelBankGenerator', img_size={{_base_.img_size}},
                   batch_size={{_base_.batch_size}}),
    generator_steps=inversion_steps,
    student_steps=10)
optim_wrapper = dict(generator=dict(optimizer=dict(lr=0.1)))
