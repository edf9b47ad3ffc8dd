# Data-free distillation of the Digits-Cls DeiT-nano teacher (2.71M parameters) into a DeiT-pico
# student (0.47M, 17 % of it), scored on the REAL Digits-Cls val split. The student never sees a
# real image: the train loader is a LatentDataset of indices.
#
#   python tools/prepare_data.py digits-cls                       # real val split (and the teacher's data)
#   python tools/train.py configs/teachers/deit_digits-cls.py     # the teacher
#   python tools/train.py configs/dfkd_deit_tiny.py               # this file
#
# Student top-1 on the real val split (teacher 0.9861), one CPU thread, docs/results_dfkd_cls.md:
#   conv 0.969 (0.983 of the teacher, 6.4 min), sprite 0.719, pixel 0.543, vit 0.273.
#
# Method (the seed paper, arXiv 2408.05952, "transformer-augmented GAN"):
#   generator  L_G = λ_adv·L_adv [AdversarialPrior: -KL(teacher‖student)]
#                  + λ_attn·L_attention [AttentionConsistencyPrior on the teacher's attention maps]
#                  + DAFL confidence / class balance [ConfidencePrior]
#   student    L_S = λ_KD·τ²·KL(softmax(T/τ) ‖ softmax(S/τ)) [KLDivLoss]
#                  + λ_CE·CE(S, argmax T) [PseudoLabelCELoss]
#                  + λ_patch·patch-attention KD [AttentionKDLoss, head-averaged attention rows]
# on batches replayed from a memory of everything synthesised so far. Teacher and student compute
# attention explicitly (TimmClassifier expose_attention=True: timm fused_attn=False; same weights,
# same outputs) so that forward hooks on `model.blocks.i.attn.attn_drop` see the probabilities.
#
# GENERATOR SWITCH. `generator_kind` below picks one of four presets, which set the generator,
# its steps per iteration, its learning rate and the student steps together:
#   'vit'    TransformerGenerator (the seed paper's), 1 generator step per iteration
#   'conv'   ConvGenerator (DAFL / DFAD),              1 generator step per iteration
#   'pixel'  PixelBankGenerator (model inversion, DeepInversion-style): a bank of `batch_size`
#            images re-drawn every iteration and optimised for `inversion_steps` steps
#   'sprite' SpriteBankGenerator: 16 learned 8x8 sprites per class, each image one sprite of a
#            random class drawn into one random box (LayoutSampler, max_objects=1) over a
#            learned background; the generator's objective is NOT the seed paper's but the
#            teacher's cross-entropy against the box's class [ClsTaskPrior], and the student
#            trains on fresh composites every step (fresh_student_batches, no replay memory).
#            Its own schedule: `sprite_iters` iterations.
# Switch by editing that one line, or from the command line with the environment variable read
# below (the line is resolved when this file is parsed):
#   MMDFKD_GENERATOR=conv   python tools/train.py configs/dfkd_deit_tiny.py
#   MMDFKD_GENERATOR=pixel  python tools/train.py configs/dfkd_deit_tiny.py
#   MMDFKD_GENERATOR=sprite python tools/train.py configs/dfkd_deit_tiny.py
# One run per preset, scored against the teacher: python tools/benchmark_cls.py
# `--cfg-options generator_kind=conv` does NOT switch (the presets are resolved before options
# apply). The equivalent explicit --cfg-options (tests/test_models/test_cls_distill.py checks that
# they give exactly the preset's model and optimizer):
#   conv:  --cfg-options model.generator._delete_=True model.generator.type=ConvGenerator
#          model.generator.img_size=32 model.generator.latent_dim=256 model.generator_steps=1
#          model.student_steps=3 optim_wrapper.generator.optimizer.lr=0.001
#          (and its schedule: train_cfg.max_iters=350 param_scheduler.student.1.end=350
#          param_scheduler.student.1.T_max=330)
#   pixel: --cfg-options model.generator._delete_=True model.generator.type=PixelBankGenerator
#          model.generator.img_size=32 model.generator.batch_size=64 model.generator_steps=20
#          model.student_steps=4 optim_wrapper.generator.optimizer.lr=0.1
#          (the bank's batch_size must equal train_dataloader.batch_size)
_base_ = [
    './_base_/models/deit-pico_cls.py',
    './_base_/datasets/digits-cls.py',
    './_base_/default_runtime.py',
]

# ---- values users change most ----
generator_kind = '{{$MMDFKD_GENERATOR:vit}}'  # 'vit' | 'conv' | 'pixel' | 'sprite'
teacher_config = 'configs/teachers/deit_digits-cls.py'
teacher_checkpoint = 'work_dirs/deit_digits-cls/iter_1500.pth'
max_iters = 400          # synthesis iterations, unless the preset sets its own
# Each preset's max_iters keeps a run under ~10 min on one CPU thread (2 shared cores):
# vit 500 x 0.66 s, conv 350 x ~1.1 s, pixel 120 x 4.3 s, sprite 600 x 0.6 s per iteration.
batch_size = 64          # synthetic images per iteration
img_size = 32
memory_capacity = 8192   # replayed synthetic images (uint8, 3 KB each at 32x32)
tau = 4.0                # KD temperature
kd_weight = 1.0          # λ_KD
ce_weight = 0.5          # λ_CE
patch_weight = 1.0       # λ_patch
adv_weight = 1.0         # λ_adv
attn_weight = 0.2        # λ of the attention-consistency prior
conf_weight = 0.5        # DAFL one-hot confidence
balance_weight = 2.0     # DAFL class balance (relative to conf_weight)
adv_warmup_iters = 20    # generator learns the teacher's classes before it attacks the student
# Attention layers distilled (the student's are paired with the teacher's in order).
teacher_attn_blocks = (2, 5)   # of the teacher's 6
student_attn_blocks = (1, 3)   # of the student's 4
inversion_steps = 20           # pixel preset: optimisation steps of each bank
sprites_per_class = 16         # sprite preset: sprites per class
sprite_box = (20, 32)          # sprite preset: range of the box side (pixels) a sprite is drawn into
sprite_lr = 0.1                # sprite preset: Adam lr of the sprites, inks and backgrounds
sprite_backgrounds = 16        # sprite preset: learned background colours
sprite_iters = 600             # sprite preset: iterations
sprite_grey = False            # sprite preset: grey composites (True measured 0.72 vs 0.76 with colour)
sprite_warp = dict(mix=True, max_rotation=15, max_shear=0.3)  # sprite preset: shape diversity per object

generator_presets = dict(
    vit=dict(
        generator=dict(type='TransformerGenerator', img_size=img_size, latent_dim=128, patch_size=8,
                       embed_dim=128, depth=2, num_heads=4),
        generator_steps=1, student_steps=2, lr=1e-3, max_iters=500),
    conv=dict(
        generator=dict(type='ConvGenerator', img_size=img_size, latent_dim=256),
        # 3 student steps per generator step: 0.969 top-1 in 350 iterations (2 steps, 400: 0.911).
        generator_steps=1, student_steps=3, lr=1e-3, max_iters=350),
    pixel=dict(
        generator=dict(type='PixelBankGenerator', img_size=img_size, batch_size=batch_size),
        generator_steps=inversion_steps, student_steps=4, lr=0.1, max_iters=120),
    # Per-class sprites rendered into one random box per image on a procedural background, learned
    # with the teacher's CE against the box's class; the student sees a fresh composite every step.
    sprite=dict(
        generator=dict(type='SpriteBankGenerator', img_size=img_size, num_classes=10,
                       sprites_per_class=sprites_per_class, sprite_size=8, ink='learned', background='learned',
                       num_backgrounds=sprite_backgrounds, grey=sprite_grey, **sprite_warp),
        generator_steps=1, student_steps=2, lr=sprite_lr, max_iters=sprite_iters,
        model=dict(
            layout_sampler=dict(type='LayoutSampler', min_size=sprite_box[0], max_size=sprite_box[1],
                                max_objects=1, aspect_range=(0.75, 1.33)),
            priors=dict(task=dict(type='ClsTaskPrior', loss_weight=1.0)),
            memory_capacity=0, fresh_student_batches=True)),
)
if generator_kind not in generator_presets:
    raise ValueError(f'generator_kind must be one of {sorted(generator_presets)}, got {generator_kind!r}')
_preset = generator_presets[generator_kind]
max_iters = _preset.get('max_iters', max_iters)


def _blocks(indices):
    return [f'model.blocks.{i}.attn.attn_drop' for i in indices]


model = dict(
    _delete_=True,
    type='DataFreeDistiller',
    task='cls',
    # expose_attention: explicit attention in the teacher too, so its maps can be recorded.
    teacher=dict(config=teacher_config, checkpoint=teacher_checkpoint,
                 cfg_options={'model.expose_attention': True}),
    student=dict(
        type='TimmClassifier',
        model_name={{_base_.model.model_name}},
        model_kwargs={{_base_.model.model_kwargs}},
        data_preprocessor={{_base_.model.data_preprocessor}},
        expose_attention=True),
    generator=_preset['generator'],
    augment=dict(type='DifferentiableAugment', jitter=2, flip=False, scale_range=(0.9, 1.1)),
    teacher_taps=dict(attn=_blocks(range(6)), patch_attn=_blocks(teacher_attn_blocks)),
    student_taps=dict(patch_attn=_blocks(student_attn_blocks)),
    priors=dict(
        adv=dict(type='AdversarialPrior', tap='logits', mode='kl', loss_weight=adv_weight),
        attn=dict(type='AttentionConsistencyPrior', tap='attn', loss_weight=attn_weight),
        conf=dict(type='ConfidencePrior', balance_weight=balance_weight, loss_weight=conf_weight)),
    distill_losses=dict(
        kd=dict(type='KLDivLoss', tap='logits', tau=tau, loss_weight=kd_weight),
        ce=dict(type='PseudoLabelCELoss', tap='logits', loss_weight=ce_weight),
        patch=dict(type='AttentionKDLoss', tap='patch_attn', mode='attention', loss_weight=patch_weight)),
    generator_steps=_preset['generator_steps'],
    student_steps=_preset['student_steps'],
    memory_capacity=memory_capacity,
    adv_warmup_iters=adv_warmup_iters)
model.update(_preset.get('model', {}))  # presets that also change priors, layouts or the student's batches

train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    # No images: the distiller synthesises them.
    dataset=dict(type='LatentDataset', metainfo=dict(classes=('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'))))
# val_dataloader / val_evaluator: the real Digits-Cls val split with ClsAccuracy (top-1), from _base_.

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    constructor='DataFreeOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='Adam', lr=_preset['lr'], betas=(0.5, 0.999))),
    student=dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05), clip_grad=dict(max_norm=5.0)))
# One entry per optimizer (MMEngine's OptimWrapperDict needs both keys); the generator's lr is constant.
param_scheduler = dict(generator=[], student=[
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=max_iters, T_max=max_iters - 20, eta_min=1e-5),
])

custom_hooks = [dict(type='SyntheticImageHook', interval=100)]
default_hooks = dict(
    checkpoint=dict(interval=100, by_epoch=False, max_keep_ckpts=1,
                    save_best='accuracy/top1', rule='greater'))
