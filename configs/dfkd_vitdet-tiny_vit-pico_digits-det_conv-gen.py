# Pixel inversion (dfkd_vitdet-tiny_vit-pico_digits-det_pixel-gen.py) with an amortised generator
# instead of per-batch model
# inversion: a layout-conditioned ConvGenerator (DAFL / DFAD style) learns to draw digits where
# the sampled layout puts them, then, after a warm-up, also where student and teacher disagree.
#
#   python tools/train.py configs/dfkd_vitdet-tiny_vit-pico_digits-det_conv-gen.py
#
# A generator step costs one teacher forward/backward (vs. 40 inversion steps per batch in the
# headline), so there are more, cheaper iterations for about the same compute.
_base_ = './dfkd_vitdet-tiny_vit-pico_digits-det_pixel-gen.py'

# ---- values users change most ----
max_iters = 2000
generator_steps = 1      # generator updates per iteration
student_steps = 5        # student updates per iteration (DFAD's 1:5)
adv_warmup_iters = 200   # task/smoothness priors only before this; then the adversarial term too

model = dict(
    generator=dict(
        _delete_=True,
        type='ConvGenerator',
        img_size={{_base_.img_size}},
        latent_dim=256,
        channels=(128, 128, 128, 64, 32),  # 8x8 -> 128x128 in 4 stages
        num_classes=10),                   # layout-conditioned: the layout is drawn into every stage
    # task / tv / l2 from the headline; the adversarial term drives the generator towards
    # images on which the student's dense head still disagrees with the teacher's.
    priors=dict(adv=dict(type='AdversarialPrior', tap='head', loss_weight=0.5)),
    generator_steps=generator_steps,
    student_steps=student_steps,
    adv_warmup_iters=adv_warmup_iters)

train_cfg = dict(max_iters=max_iters, val_interval=500)
optim_wrapper = dict(
    generator=dict(optimizer=dict(type='Adam', lr=1e-3, betas=(0.5, 0.999)), clip_grad=dict(max_norm=10.0)))
param_scheduler = dict(student=[dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters,
                                     T_max=max_iters, eta_min=1e-5)])

custom_hooks = [dict(type='SyntheticImageHook', interval=200)]
default_hooks = dict(checkpoint=dict(interval=500))
