# Data-free distillation of YOUR CIFAR-10 DeiT-S teacher (timm `deit_small_patch16_224`
# architecture at 32x32 px, 4x4 patches: 21.3M parameters) into a DeiT-Ti student (same layout,
# 5.4M, 1/4 of it), scored on the real CIFAR-10 test split (top-1 / top-5).
#
#   python tools/train.py configs/dfkd_deit-s_deit-ti_cifar10.py \
#       --cfg-options model.teacher.checkpoint=checkpoints/deit-s_cifar10.pth
#
# Teacher checkpoint: a tools/train.py checkpoint of a TimmClassifier, or a plain timm /
# DeiT state dict of the same architecture (keys of the timm model, optionally under 'model' or
# 'state_dict'). If your teacher differs (other timm model, patch size, normalisation), edit the
# `teacher_model` dict below: `model_kwargs` must rebuild exactly the trained network, and the
# data_preprocessor's mean/std must be the ones it was trained with.
# Real data (only for validation): CIFAR-10 python pickles under data/cifar10/, see
# configs/_base_/datasets/cifar10.py.
#
# Method: the seed paper's (configs/_base_/dfkd_cls.py), with its TransformerGenerator.
# GENERATORS: dfkd_deit-s_deit-ti_cifar10_conv-gen.py (ConvGenerator) and
# dfkd_deit-s_deit-ti_cifar10_pixel-gen.py (PixelBankGenerator, model inversion) inherit this file
# and change only the generator and its steps and lr. The same with --cfg-options on this file:
#   conv:  model.generator._delete_=True model.generator.type=ConvGenerator model.generator.img_size=32
#          model.generator.latent_dim=256 model.generator_steps=1 model.student_steps=2
#          optim_wrapper.generator.optimizer.lr=0.001
#   pixel: model.generator._delete_=True model.generator.type=PixelBankGenerator model.generator.img_size=32
#          model.generator.batch_size=128 model.generator_steps=200 model.student_steps=10
#          optim_wrapper.generator.optimizer.lr=0.1
_base_ = [
    './_base_/datasets/cifar10.py',
    './_base_/dfkd_cls.py',
]
from mmdfkd.datasets import cifar  # noqa: E402 (a module: not part of the config)

# ---- values users change most ----
teacher_checkpoint = 'checkpoints/deit-s_cifar10.pth'
max_iters = 20000        # synthesis iterations
batch_size = 128         # synthetic images per iteration
img_size = 32
memory_capacity = 65536  # replayed synthetic images (uint8, 3 KB each)
tau = 4.0
adv_warmup_iters = 500
teacher_attn_blocks = (5, 11)
student_attn_blocks = (5, 11)
classes = cifar.CIFAR10Dataset.METAINFO['classes']

# CIFAR-10 statistics in [0, 255], RGB after the flip (CIFAR10Dataset yields BGR).
preprocessor = dict(type='ClsDataPreprocessor', mean=[125.31, 122.95, 113.87], std=[62.99, 62.09, 66.70],
                    bgr_to_rgb=True)
teacher_model = dict(
    type='TimmClassifier',
    model_name='deit_small_patch16_224',
    model_kwargs=dict(img_size=img_size, patch_size=4, num_classes=10),
    expose_attention=True,  # explicit attention (same weights) so that attn_drop hooks see the maps
    data_preprocessor=preprocessor)
student_model = dict(
    type='TimmClassifier',
    model_name='deit_tiny_patch16_224',
    model_kwargs=dict(img_size=img_size, patch_size=4, num_classes=10, drop_path_rate=0.1),
    expose_attention=True,
    data_preprocessor=preprocessor)


def _blocks(indices):
    return [f'model.blocks.{i}.attn.attn_drop' for i in indices]


model = dict(
    teacher=dict(model=teacher_model, checkpoint=teacher_checkpoint),
    student=student_model,
    generator=dict(type='TransformerGenerator', img_size=img_size, latent_dim=256, patch_size=4,
                   embed_dim=256, depth=4, num_heads=4),
    augment=dict(type='DifferentiableAugment', jitter=2, flip=True, scale_range=(0.8, 1.0)),
    teacher_taps=dict(attn=_blocks(range(12)), patch_attn=_blocks(teacher_attn_blocks)),
    student_taps=dict(patch_attn=_blocks(student_attn_blocks)),
    distill_losses=dict(kd=dict(tau=tau)),
    memory_capacity=memory_capacity,
    adv_warmup_iters=adv_warmup_iters)

train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    # No images: the distiller synthesises them.
    dataset=dict(type='LatentDataset', metainfo=dict(classes=classes)))

train_cfg = dict(max_iters=max_iters, val_interval=2000)
optim_wrapper = dict(
    student=dict(optimizer=dict(lr=5e-4),
                 paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                                    custom_keys={'pos_embed': dict(decay_mult=0.0),
                                                 'cls_token': dict(decay_mult=0.0)})))
param_scheduler = dict(student=[
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=1000, end=max_iters, T_max=max_iters - 1000,
         eta_min=1e-6),
])

custom_hooks = [dict(type='SyntheticImageHook', interval=1000)]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(interval=2000, max_keep_ckpts=2))
