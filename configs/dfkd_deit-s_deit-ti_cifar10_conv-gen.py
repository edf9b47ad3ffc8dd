# dfkd_deit-s_deit-ti_cifar10.py with a ConvGenerator (DAFL / DFAD) instead of the seed paper's
# transformer generator; everything else is the base's (tests/test_configs/ checks it).
#
#   python tools/train.py configs/dfkd_deit-s_deit-ti_cifar10_conv-gen.py \
#       --cfg-options model.teacher.checkpoint=checkpoints/deit-s_cifar10.pth
_base_ = './dfkd_deit-s_deit-ti_cifar10.py'

model = dict(
    generator=dict(_delete_=True, type='ConvGenerator', img_size={{_base_.img_size}}, latent_dim=256),
    generator_steps=1,
    student_steps=2)
optim_wrapper = dict(generator=dict(optimizer=dict(lr=1e-3)))
