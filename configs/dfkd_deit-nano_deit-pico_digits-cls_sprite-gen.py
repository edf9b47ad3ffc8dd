# dfkd_deit-nano_deit-pico_digits-cls.py with a SpriteBankGenerator instead of the seed paper's
# transformer generator: 16 learned 8x8 sprites per class, each image one sprite of a random
# class drawn into one random box (LayoutSampler, max_objects=1) over a learned background. The
# generator's objective is NOT the seed paper's but the teacher's cross-entropy against the box's
# class [ClsTaskPrior], and the student trains on fresh composites every step
# (fresh_student_batches, no replay memory). Teacher, student and distillation losses are the
# base's (tests/test_configs/ checks that nothing else changes).
#
#   python tools/train.py configs/dfkd_deit-nano_deit-pico_digits-cls_sprite-gen.py
_base_ = './dfkd_deit-nano_deit-pico_digits-cls.py'

max_iters = 600                # ~0.6 s each on one CPU thread
sprites_per_class = 16         # sprites per class
sprite_box = (20, 32)          # range of the box side (pixels) a sprite is drawn into
sprite_lr = 0.1                # Adam lr of the sprites, inks and backgrounds
sprite_backgrounds = 16        # learned background colours
sprite_grey = False            # grey composites (True measured 0.72 vs 0.76 with colour)
sprite_warp = dict(mix=True, max_rotation=15, max_shear=0.3)  # shape diversity per object

model = dict(
    generator=dict(_delete_=True, type='SpriteBankGenerator', img_size={{_base_.img_size}}, num_classes=10,
                   sprites_per_class=sprites_per_class, sprite_size=8, ink='learned', background='learned',
                   num_backgrounds=sprite_backgrounds, grey=sprite_grey, **sprite_warp),
    layout_sampler=dict(type='LayoutSampler', min_size=sprite_box[0], max_size=sprite_box[1], max_objects=1,
                        aspect_range=(0.75, 1.33)),
    priors=dict(_delete_=True, task=dict(type='ClsTaskPrior', loss_weight=1.0)),
    generator_steps=1,
    student_steps=2,
    memory_capacity=0,
    fresh_student_batches=True)

train_cfg = dict(max_iters=max_iters)
optim_wrapper = dict(generator=dict(optimizer=dict(lr=sprite_lr)))
param_scheduler = dict(student=[
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=max_iters, T_max=max_iters - 20, eta_min=1e-5),
])
