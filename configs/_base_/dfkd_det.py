# Data-free detection distillation, the one recipe every ViTDet benchmark config inherits
# (configs/dfkd_vitdet-tiny_vit-pico_digits-det_generic.py for Digits-Det,
# configs/dfkd_vitdet-tiny_vit-pico_glyphs-det.py for Glyphs-Det). A benchmark config states only
# its teacher, its val data (a dataset base next to this file), its image size and its class
# count; tests/test_configs/test_one_recipe.py fails on any other difference.
#
# Method (README "Data-free detection"): object-sprite inversion. The generator holds 16 small
# alpha sprites per class (SpriteBankGenerator). Each iteration samples layouts whose box sizes
# come from the teacher's head and are re-weighted by what the teacher re-detects
# (TeacherLayoutSampler), composites a sprite of each box's class into it on a background and
# with an ink from generic families (smooth field, 1/f noise, dead leaves; flat, contrasting,
# textured), the family chosen by the teacher's re-detections too, and updates the sprites with
# the teacher's own detection loss against the layout (DIODE's objective, applied to objects
# instead of whole images). The first `warmup_iters`
# iterations train only the sprites; afterwards each iteration also takes `student_steps`
# student steps, each on a NEW batch of composites (fresh_student_batches) or, with
# `teacher_reuse`, on one the teacher labelled a few steps before, with dense-head KD, FPN feature
# KD and the teacher's detections as pseudo ground truth.
#
# Nothing here is a constant of a dataset: sizes, counts and classes come from the teacher,
# backgrounds and inks from generic image families (mmdfkd/models/generators/natural_prior.py)
# that the teacher's re-detections choose among.
# The student (a pico ViT + SimpleFPN + FCOS, < 1/5 of the ViTDet-tiny teacher) is the recipe's.
_base_ = [
    './models/student_vit-pico_fcos.py',
    './default_runtime.py',
]

# ---- values users change most ----
max_iters = 800          # iterations: 1 sprite update each, plus student steps after the warm-up
warmup_iters = 100       # sprite-only iterations
samples_per_step = 16    # images per sprite update and per student step (the train loader's batch_size)
student_steps = 8        # student updates per iteration (700 x 8 = 5,600 after the warm-up)
teacher_reuse = 8        # the teacher labels one new batch per 8 student steps (README "A faster headline")

model = dict(
    _delete_=True,
    type='DataFreeDistiller',
    task='det',
    teacher=dict(config=None, checkpoint=None),  # the benchmark config's
    student={{_base_.model}},
    # 16x16 mattes resized to their box (a smoothness prior); `opaque`: every sprite fully opaque at
    # its strongest point (objects occlude); `styles`: each image's background family (smooth field,
    # 1/f spectral noise, dead leaves) and ink family (flat, contrasting, texture) is the layout's
    # 'style', which the sampler draws by the teacher's re-detection rate under it.
    # img_size / num_classes: the benchmark config's.
    generator=dict(type='SpriteBankGenerator', img_size=None, num_classes=None, sprites_per_class=16,
                   sprite_size=16, opaque=True, background='styles', ink='styles'),
    # sizes, box shapes and styles are sampled in proportion to floor + the teacher's re-detection
    # rate; a small floor spends the student's batches where the teacher sees objects.
    layout_sampler=dict(type='TeacherLayoutSampler', aspect_range=(0.5, 2.0), momentum=0.8, floor=0.005),
    priors=dict(task=dict(type='DetTaskPrior', loss_weight=1.0)),
    distill_losses=dict(
        head=dict(type='DenseHeadKDLoss', tap='head', loss_weight=1.0),
        feats=dict(type='FeatureKDLoss', tap='feats', loss_weight=1.0)),
    connectors=dict(feats=dict(type='ConvConnector', in_channels=64, out_channels=128)),
    pseudo_label=dict(score_thr=0.3, loss_weight=1.0),
    generator_steps=1,
    student_steps=student_steps,
    fresh_student_batches=True,
    teacher_reuse=teacher_reuse,
    labelled_pool_size=8,
    generator_warmup_iters=warmup_iters)

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

# bf16 autocast where the CPU computes bf16 natively (fp16 AMP on a GPU), fp32 with a warning elsewhere.
amp = 'auto'

# TrainTimeHook: every validation also logs the iteration, the seconds of training so far and
# the synthetic images drawn, so "time to reach this mAP" can be read off scalars.json.
custom_hooks = [dict(type='SyntheticImageHook', interval=50), dict(type='TrainTimeHook')]
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=50, by_epoch=False, max_keep_ckpts=2),
                     logger=dict(log_metric_by_epoch=False))

# Distributed (tools/dist_train.sh CONFIG N): every rank synthesises its own images, gradients are averaged.
model_wrapper_cfg = dict(type='DataFreeDDP')
randomness = dict(seed=0, diff_rank_seed=True)
