# dfkd_deit-b_deit-ti_imagenet.py with a ConvGenerator (DAFL / DFAD) instead of the seed paper's
# transformer generator; everything else is the base's (tests/test_configs/ checks it).
#
#   bash tools/dist_train.sh configs/dfkd_deit-b_deit-ti_imagenet_conv-gen.py 8 \
#       --cfg-options model.teacher.checkpoint=checkpoints/deit_base_patch16_224.pth
_base_ = './dfkd_deit-b_deit-ti_imagenet.py'

model = dict(
    generator=dict(_delete_=True, type='ConvGenerator', img_size={{_base_.img_size}}, latent_dim=512,
                   channels=[256, 256, 128, 64, 32]),
    generator_steps=1,
    student_steps=2)
optim_wrapper = dict(generator=dict(optimizer=dict(lr=1e-3)))
