"""A tiny data-free classification config, written to a folder, for Runner and subprocess tests.

32x32 images, a 2-block ViT teacher (dim 32) and student (dim 16), a conv
generator whose latent is drawn from the global torch RNG every iteration, and a
differentiable augmentation that draws from it too: a test of exact resume or of
determinism fails as soon as any RNG stream differs.
"""
import os.path as osp
import textwrap

import torch

CONFIG = '''
default_scope = 'mmdfkd'
log_level = 'WARNING'
classifier = dict(
    type='TimmClassifier', model_name='vit_tiny_patch16_224',
    model_kwargs=dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=10),
    data_preprocessor=dict(type='ClsDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3))
model = dict(
    type='DataFreeDistiller', task='cls',
    teacher=dict(model=classifier, checkpoint={teacher!r}),
    student=dict(classifier, model_kwargs=dict(classifier['model_kwargs'], embed_dim=16)),
    generator=dict(type='ConvGenerator', latent_dim=16, img_size=32),
    augment=dict(type='DifferentiableAugment', jitter=2, flip=True, scale_range=(0.9, 1.1)),
    priors=dict(conf=dict(type='ConfidencePrior', loss_weight=1.0),
                adv=dict(type='AdversarialPrior', tap='logits', loss_weight=0.5)),
    distill_losses=dict(kd=dict(type='KLDivLoss', tap='logits', tau=4.0)),
    memory_capacity=0)
train_dataloader = dict(
    batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='LatentDataset', metainfo=dict(classes=tuple(str(i) for i in range(10)))))
train_cfg = dict(type='IterBasedTrainLoop', max_iters={max_iters})
optim_wrapper = dict(
    constructor='DataFreeOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='Adam', lr=1e-2)),
    student=dict(optimizer=dict(type='AdamW', lr=1e-2), clip_grad=dict(max_norm=10.0)))
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='AtomicCheckpointHook', interval={interval}, by_epoch=False, max_keep_ckpts=2))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, diff_rank_seed=True)
'''


def write_config(folder, name: str = 'tiny_dfkd', max_iters: int = 4, interval: int = 2, extra: str = '') -> str:
    """Save a random tiny teacher and the config that distils it; return the config path."""
    from mmengine.config import Config

    from mmdfkd.registry import MODELS
    folder = str(folder)
    teacher = osp.join(folder, 'teacher.pth')
    if not osp.exists(teacher):
        torch.manual_seed(0)
        classifier = Config.fromstring(CONFIG.format(teacher='', max_iters=1, interval=1), '.py').classifier
        torch.save({'state_dict': MODELS.build(classifier).state_dict()}, teacher)
    path = osp.join(folder, f'{name}.py')
    with open(path, 'w') as f:
        f.write(CONFIG.format(teacher=teacher, max_iters=max_iters, interval=interval) + textwrap.dedent(extra))
    return path
