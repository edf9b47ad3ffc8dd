# Data-free distillation of YOUR ImageNet-1k DeiT-B teacher (timm `deit_base_patch16_224`,
# 86.6M parameters) into a DeiT-Ti student (`deit_tiny_patch16_224`, 5.7M, 1/15 of it), scored
# top-1 / top-5 on the real ImageNet val images. Needs GPUs: one iteration synthesises and
# distils `batch_size` 224x224 images through both ViTs.
#
#   bash tools/dist_train.sh configs/dfkd_deit-b_deit-ti_imagenet.py 8 \
#       --cfg-options model.teacher.checkpoint=checkpoints/deit_base_patch16_224.pth
#
# Teacher checkpoint: a plain timm / official DeiT state dict of `deit_base_patch16_224` (keys of
# the timm model, optionally under 'model' or 'state_dict'), or a tools/train.py checkpoint of a
# TimmClassifier. Another teacher (DeiT-S, ViT-B, other resolution): edit `teacher_model`;
# `model_kwargs` must rebuild exactly the trained network, the data_preprocessor's mean/std must
# be the ones it was trained with, and the token count must match the student's for the
# patch-attention loss (same img_size and patch_size).
# Real data (only for validation): data/imagenet/val/<synset>/*.JPEG, see
# configs/_base_/datasets/imagenet.py.
#
# Method: the seed paper's (configs/_base_/dfkd_cls.py), with its TransformerGenerator.
# GENERATORS: dfkd_deit-b_deit-ti_imagenet_conv-gen.py (ConvGenerator) and
# dfkd_deit-b_deit-ti_imagenet_pixel-gen.py (PixelBankGenerator, model inversion) inherit this
# file and change only the generator and its steps and lr. The same with --cfg-options on this file:
#   conv:  model.generator._delete_=True model.generator.type=ConvGenerator model.generator.img_size=224
#          model.generator.latent_dim=512 model.generator.channels=[256,256,128,64,32]
#          model.generator_steps=1 model.student_steps=2 optim_wrapper.generator.optimizer.lr=0.001
#   pixel: model.generator._delete_=True model.generator.type=PixelBankGenerator
#          model.generator.img_size=224 model.generator.batch_size=64 model.generator_steps=2000
#          model.student_steps=50 optim_wrapper.generator.optimizer.lr=0.25
_base_ = [
    './_base_/datasets/imagenet.py',
    './_base_/dfkd_cls.py',
]

# ---- values users change most ----
teacher_checkpoint = 'checkpoints/deit_base_patch16_224.pth'
max_iters = 100000       # synthesis iterations
batch_size = 64          # synthetic images per iteration (per GPU)
img_size = 224
memory_capacity = 50000  # replayed synthetic images (uint8, 150 KB each at 224x224: 7.5 GB)
tau = 1.0
adv_warmup_iters = 2000
teacher_attn_blocks = (5, 11)
student_attn_blocks = (5, 11)

preprocessor = dict(type='ClsDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                    bgr_to_rgb=True)
teacher_model = dict(
    type='TimmClassifier',
    model_name='deit_base_patch16_224',
    model_kwargs=dict(img_size=img_size, num_classes=1000),
    expose_attention=True,  # explicit attention (same weights) so that attn_drop hooks see the maps
    data_preprocessor=preprocessor)
student_model = dict(
    type='TimmClassifier',
    model_name='deit_tiny_patch16_224',
    model_kwargs=dict(img_size=img_size, num_classes=1000, drop_path_rate=0.1),
    expose_attention=True,
    data_preprocessor=preprocessor)


def _blocks(indices):
    return [f'model.blocks.{i}.attn.attn_drop' for i in indices]


model = dict(
    teacher=dict(model=teacher_model, checkpoint=teacher_checkpoint),
    student=student_model,
    generator=dict(type='TransformerGenerator', img_size=img_size, latent_dim=512, patch_size=16,
                   embed_dim=384, depth=6, num_heads=6),
    augment=dict(type='DifferentiableAugment', jitter=16, flip=True, scale_range=(0.5, 1.0)),
    teacher_taps=dict(attn=_blocks((2, 5, 8, 11)), patch_attn=_blocks(teacher_attn_blocks)),
    student_taps=dict(patch_attn=_blocks(student_attn_blocks)),
    distill_losses=dict(kd=dict(tau=tau)),
    memory_capacity=memory_capacity,
    adv_warmup_iters=adv_warmup_iters)

# ImageFolderDataset reads the class names from the val folders; the synthetic loader has none.
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    # No images: the distiller synthesises them.
    dataset=dict(type='LatentDataset'))

train_cfg = dict(max_iters=max_iters, val_interval=5000)
optim_wrapper = dict(
    student=dict(optimizer=dict(lr=5e-4),
                 paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                                    custom_keys={'pos_embed': dict(decay_mult=0.0),
                                                 'cls_token': dict(decay_mult=0.0)})))
param_scheduler = dict(student=[
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=5000),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=5000, end=max_iters, T_max=max_iters - 5000,
         eta_min=1e-6),
])

custom_hooks = [dict(type='SyntheticImageHook', interval=2000)]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(interval=5000, max_keep_ckpts=2))
