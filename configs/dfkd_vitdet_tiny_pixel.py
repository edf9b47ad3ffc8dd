# Per-image model inversion (DIODE-style), the baseline the headline (dfkd_vitdet_tiny.py,
# object-sprite inversion) replaced: same teacher, student and losses, images synthesised one
# batch at a time. Also the base of the conv / transformer generator configs.
#
#   python tools/train.py configs/dfkd_vitdet_tiny_pixel.py
#
# Method (see README "Data-free detection"): DIODE-style model inversion. Each iteration
# samples a layout (1-4 boxes with classes), re-draws a bank of pixels (half of it continuing
# remembered images) and optimises it for `inversion_steps` steps so that the teacher's own
# FCOS loss finds those objects there (plus smoothness priors). Every inverted batch enters a replay memory, and the student
# takes `student_steps` steps on batches drawn from it, matching the teacher's dense head
# and FPN features and learning from the teacher's detections as pseudo ground truth.
_base_ = [
    './_base_/models/student_vit-pico_fcos.py',
    './_base_/datasets/digits-det.py',
    './_base_/default_runtime.py',
]

# ---- values users change most ----
teacher_config = 'configs/teachers/vitdet_digits-det.py'
teacher_checkpoint = 'work_dirs/vitdet_digits-det/iter_800.pth'
max_iters = 120          # synthesis iterations
batch_size = 8           # synthetic images per iteration
inversion_steps = 25     # pixel-bank optimisation steps per batch
student_steps = 8        # student updates per iteration, on replayed batches
img_size = 128

model = dict(
    _delete_=True,
    type='DataFreeDistiller',
    task='det',
    teacher=dict(config=teacher_config, checkpoint=teacher_checkpoint),
    student={{_base_.model}},
    # pixels live at 64x64 and are upsampled: real digits are blurry, and half the resolution
    # quarters the parameters each inversion step has to move.
    generator=dict(type='PixelBankGenerator', img_size=img_size, batch_size=batch_size, param_downsample=2),
    layout_sampler=dict(type='LayoutSampler', min_size=20, max_size=48, max_objects=4),
    augment=dict(type='DifferentiableAugment', jitter=8, flip=False, scale_range=(0.9, 1.1)),
    priors=dict(
        task=dict(type='DetTaskPrior', loss_weight=1.0),
        tv=dict(type='TVPrior', loss_weight=20.0),
        l2=dict(type='L2Prior', loss_weight=0.01)),
    distill_losses=dict(
        head=dict(type='DenseHeadKDLoss', tap='head', loss_weight=1.0),
        feats=dict(type='FeatureKDLoss', tap='feats', loss_weight=1.0)),
    connectors=dict(feats=dict(type='ConvConnector', in_channels=64, out_channels=128)),
    pseudo_label=dict(score_thr=0.3, loss_weight=1.0),
    generator_steps=inversion_steps,
    student_steps=student_steps,
    memory_capacity=4096,
    # half of every new bank continues optimising remembered images (with their layouts),
    # so inversion steps accumulate across iterations instead of restarting from noise
    refine_ratio=0.5)

train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    # No images: the distiller synthesises them. tests/test_models/test_distiller.py proves it.
    dataset=dict(type='LatentDataset', metainfo=dict(classes=('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'))))

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=40)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    constructor='DataFreeOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='Adam', lr=0.1, betas=(0.5, 0.99))),
    student=dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05), clip_grad=dict(max_norm=10.0)))
# MMEngine wants a schedule per optimizer: the generator keeps its lr.
param_scheduler = dict(
    generator=[dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=max_iters)],
    student=[dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters, T_max=max_iters, eta_min=1e-5)])

custom_hooks = [dict(type='SyntheticImageHook', interval=20)]
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=40, by_epoch=False, max_keep_ckpts=2))

# Distributed (tools/dist_train.sh CONFIG N): every rank synthesises its own images, gradients are averaged.
model_wrapper_cfg = dict(type='DataFreeDDP')
randomness = dict(seed=0, diff_rank_seed=True)
