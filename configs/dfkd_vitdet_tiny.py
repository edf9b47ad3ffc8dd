# Headline: the Digits-Det ViTDet teacher distilled WITHOUT its training images into a
# pico ViT student (< 1/5 of the teacher's parameters), scored on the real val split.
#
#   python tools/prepare_data.py digits-det                     # real val split (and the teacher's data)
#   python tools/train.py configs/teachers/vitdet_digits-det.py  # the teacher
#   python tools/train.py configs/dfkd_vitdet_tiny.py            # this file
#
# THE V1 RECIPE, KEPT AS THE HEADLINE until the generic one matches it: its background (smooth
# colour field + noise), its contrasting inks, its 8x8 sprites and its layouts (20-48 px, 1-4
# objects) are those of the Digits-Det renderer (issue 14). The generic recipe, which derives
# sizes and appearance from the teacher, is configs/_base_/dfkd_det.py, run on Digits-Det by
# configs/dfkd_vitdet-tiny_vit-pico_digits-det_generic.py and on Glyphs-Det by
# configs/dfkd_vitdet-tiny_vit-pico_glyphs-det.py (README "Data-free detection" compares them).
#
# Method (README "Data-free detection"): object-sprite inversion. The generator holds 16 small
# alpha sprites per class (SpriteBankGenerator). Each iteration samples layouts (1-4 boxes with
# classes), composites a sprite of each box's class into it with a random contrasting ink on a
# procedural noise background, and updates the sprites with the teacher's own FCOS loss against
# the layout (DIODE's objective, applied to objects instead of whole images). The first
# `warmup_iters` iterations train only the sprites; afterwards each iteration also takes
# `student_steps` student steps, each on a NEW batch of composites (fresh_student_batches), with
# dense-head KD, FPN feature KD and the teacher's detections as pseudo ground truth.
_base_ = [
    './_base_/models/student_vit-pico_fcos.py',
    './_base_/datasets/digits-det.py',
    './_base_/default_runtime.py',
]

# ---- values users change most ----
teacher_config = 'configs/teachers/vitdet_digits-det.py'
teacher_checkpoint = 'work_dirs/vitdet_digits-det/iter_800.pth'
max_iters = 550          # iterations: 1 sprite update each, plus student steps after the warm-up
warmup_iters = 100       # sprite-only iterations
batch_size = 16          # images per sprite update and per student step
student_steps = 4        # student updates per iteration, each on freshly composited images
img_size = 128

model = dict(
    _delete_=True,
    type='DataFreeDistiller',
    task='det',
    teacher=dict(config=teacher_config, checkpoint=teacher_checkpoint),
    student={{_base_.model}},
    # sprites are stored at 8x8 and resized to their box: a smoothness prior by construction;
    # `opaque` makes every sprite fully opaque at its strongest point (objects occlude).
    generator=dict(type='SpriteBankGenerator', img_size=img_size, num_classes=10, sprites_per_class=16,
                   sprite_size=8, opaque=True, background='random', ink='random'),
    layout_sampler=dict(type='LayoutSampler', min_size=20, max_size=48, max_objects=4, aspect_range=(0.5, 1.25)),
    priors=dict(task=dict(type='DetTaskPrior', loss_weight=1.0)),
    distill_losses=dict(
        head=dict(type='DenseHeadKDLoss', tap='head', loss_weight=1.0),
        feats=dict(type='FeatureKDLoss', tap='feats', loss_weight=1.0)),
    connectors=dict(feats=dict(type='ConvConnector', in_channels=64, out_channels=128)),
    pseudo_label=dict(score_thr=0.3, loss_weight=1.0),
    generator_steps=1,
    student_steps=student_steps,
    fresh_student_batches=True,
    generator_warmup_iters=warmup_iters)

train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    # No images: the distiller synthesises them. tests/test_models/test_distiller.py proves it.
    dataset=dict(type='LatentDataset', metainfo={{_base_.metainfo}}))

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=50)
# Validation during training scores a fixed 100-image subset of the val split; the validation after
# the last iteration (and tools/test.py) scores all of it.
val_cfg = dict(type='SubsetValLoop', num_samples=100)
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    constructor='DataFreeOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='Adam', lr=0.1, betas=(0.5, 0.99))),
    student=dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05), clip_grad=dict(max_norm=10.0)))
# MMEngine wants a schedule per optimizer: the sprites keep their lr; the student's decays
# from the end of the warm-up.
param_scheduler = dict(
    generator=[dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=max_iters)],
    student=[dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, end=max_iters,
                  T_max=max_iters - warmup_iters, eta_min=1e-5)])

# TrainTimeHook: every validation also logs the iteration, the seconds of training so far and
# the synthetic images drawn, so "time to reach this mAP" can be read off scalars.json.
custom_hooks = [dict(type='SyntheticImageHook', interval=50), dict(type='TrainTimeHook')]
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=50, by_epoch=False, max_keep_ckpts=2),
                     logger=dict(log_metric_by_epoch=False))

# Distributed (tools/dist_train.sh CONFIG N): every rank synthesises its own images, gradients are averaged.
model_wrapper_cfg = dict(type='DataFreeDDP')
randomness = dict(seed=0, diff_rank_seed=True)
