# Per-image model inversion (DIODE-style), the baseline the headline (dfkd_vitdet_tiny.py,
# object-sprite inversion) replaced: same teacher, student and losses, images synthesised one
# batch at a time. Also the base of the conv / transformer generator configs.
#
#   python tools/train.py configs/dfkd_vitdet-tiny_vit-pico_digits-det_pixel-gen.py
#
# Method (see README "Data-free detection"): DIODE-style model inversion. Each iteration
# samples a layout (1-4 boxes with classes), re-draws a bank of pixels (half of it continuing
# remembered images) and optimises it for `inversion_steps` steps so that the teacher's own
# FCOS loss finds those objects there (plus smoothness priors). Every inverted batch enters a
# replay memory, and the student
# takes `student_steps` steps on batches drawn from it, matching the teacher's dense head
# and FPN features and learning from the teacher's detections as pseudo ground truth.
_base_ = './dfkd_vitdet_tiny.py'  # teacher, student, losses, loaders, hooks

# ---- values users change most ----
max_iters = 120          # synthesis iterations
batch_size = 8           # synthetic images per iteration
inversion_steps = 25     # pixel-bank optimisation steps per batch
student_steps = 8        # student updates per iteration, on replayed batches
img_size = 128

model = dict(
    # pixels live at 64x64 and are upsampled: real digits are blurry, and half the resolution
    # quarters the parameters each inversion step has to move.
    generator=dict(_delete_=True, type='PixelBankGenerator', img_size=img_size, batch_size=batch_size,
                   param_downsample=2),
    layout_sampler=dict(aspect_range=(0.75, 1.33)),
    augment=dict(type='DifferentiableAugment', jitter=8, flip=False, scale_range=(0.9, 1.1)),
    priors=dict(
        tv=dict(type='TVPrior', loss_weight=20.0),
        l2=dict(type='L2Prior', loss_weight=0.01)),
    generator_steps=inversion_steps,
    student_steps=student_steps,
    fresh_student_batches=False,
    generator_warmup_iters=0,
    memory_capacity=4096,
    # half of every new bank continues optimising remembered images (with their layouts),
    # so inversion steps accumulate across iterations instead of restarting from noise
    refine_ratio=0.5)

train_dataloader = dict(batch_size=batch_size)
train_cfg = dict(max_iters=max_iters, val_interval=40)
optim_wrapper = dict(student=dict(optimizer=dict(lr=1e-3)))
# MMEngine wants a schedule per optimizer: the generator keeps its lr.
param_scheduler = dict(
    generator=[dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=max_iters)],
    student=[dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters, T_max=max_iters, eta_min=1e-5)])

custom_hooks = [dict(type='SyntheticImageHook', interval=20)]
default_hooks = dict(checkpoint=dict(interval=40))
