"""Tiny finished distillation runs (a config and a checkpoint) written to a folder, for the tools' tests.

A detection distiller (64x64 images, a 2-block ViT FCOS teacher and a 1-block
student) with a one-image COCO test set, and a classification distiller
(32x32, timm ViTs), each saved as a config file plus a checkpoint shaped like
those ``tools/train.py`` writes: ``meta`` with ``dataset_meta`` and a
``state_dict`` of ``student.*``, ``generator.*`` and ``connectors.*`` keys.
"""
import os.path as osp

import torch
from mmengine.config import Config

from .data import write_coco_fixture, write_digits_cls_fixture
from .models import CLASSES, det_distiller_cfg, tiny_classifier


def save_run(folder, name: str, cfg: dict, model) -> tuple:
    """Write ``<name>.py`` and a ``tools/train.py``-shaped ``<name>.pth`` of ``model``; returns both paths."""
    from mmengine.runner.checkpoint import get_state_dict
    config = osp.join(str(folder), f'{name}.py')
    Config(cfg).dump(config)
    checkpoint = osp.join(str(folder), f'{name}.pth')
    torch.save(dict(meta=dict(dataset_meta=dict(classes=CLASSES), iter=3), state_dict=get_state_dict(model)),
               checkpoint)
    return config, checkpoint


def det_run(folder, generator: str = 'conv') -> tuple:
    """(config, checkpoint, distiller) of a tiny detection distillation run."""
    from mmdfkd.registry import MODELS
    torch.manual_seed(0)
    root = str(folder)
    write_coco_fixture(osp.join(root, 'coco'))
    model_cfg = det_distiller_cfg(folder, generator, priors=dict(task=dict(type='DetTaskPrior')))
    # score_thr 0: a random student's scores are ~0.01, and the tests compare detections.
    model_cfg['student']['test_cfg'] = dict(model_cfg['student']['test_cfg'], score_thr=0.0)
    test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
                     dict(type='LoadAnnotations', with_bbox=True),
                     dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                                           'scale_factor'))]
    test_dataloader = dict(
        batch_size=1, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='CocoDataset', data_root=osp.join(root, 'coco') + '/', metainfo=dict(classes=CLASSES),
                     ann_file='annotations/test.json', data_prefix=dict(img='images/'), test_mode=True,
                     pipeline=test_pipeline))
    evaluator = dict(type='CocoMetric', ann_file=osp.join(root, 'coco', 'annotations', 'test.json'), metric='bbox')
    cfg = dict(
        default_scope='mmdfkd', log_level='WARNING', model=model_cfg,
        train_dataloader=dict(batch_size=2, num_workers=0, collate_fn=dict(type='pseudo_collate'),
                              dataset=dict(type='LatentDataset', metainfo=dict(classes=CLASSES))),
        val_dataloader=test_dataloader, test_dataloader=test_dataloader, val_evaluator=evaluator,
        test_evaluator=evaluator, val_cfg=dict(type='ValLoop'), test_cfg=dict(type='TestLoop'),
        optim_wrapper=dict(constructor='DataFreeOptimWrapperConstructor'),
        custom_hooks=[dict(type='SyntheticImageHook', interval=2)])
    model = MODELS.build(model_cfg).eval()
    return save_run(folder, 'tiny_det', cfg, model) + (model, )


def cls_run(folder, generator: dict = None) -> tuple:
    """(config, checkpoint, distiller) of a tiny classification distillation run with a Digits-Cls-format val set."""
    from mmdfkd.registry import MODELS
    torch.manual_seed(0)
    root = str(folder)
    teacher = MODELS.build(tiny_classifier())
    torch.save({'state_dict': teacher.state_dict()}, osp.join(root, 'cls_teacher.pth'))
    write_digits_cls_fixture(osp.join(root, 'digits'), num_train=1, num_val=2)
    model_cfg = dict(
        type='DataFreeDistiller', task='cls',
        teacher=dict(model=tiny_classifier(), checkpoint=osp.join(root, 'cls_teacher.pth')),
        student=tiny_classifier(embed_dim=16),
        generator=generator or dict(type='ConvGenerator', latent_dim=16, img_size=32),
        priors=dict(conf=dict(type='ConfidencePrior', loss_weight=1.0)),
        distill_losses=dict(kd=dict(type='KLDivLoss', tap='logits', tau=4.0)))
    test_dataloader = dict(
        batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='DigitsClsDataset', data_root=osp.join(root, 'digits') + '/',
                     ann_file='annotations/val.json', test_mode=True,
                     pipeline=[dict(type='LoadImageFromFile'), dict(type='PackClsInputs')]))
    cfg = dict(
        default_scope='mmdfkd', log_level='WARNING', model=model_cfg,
        train_dataloader=dict(batch_size=2, num_workers=0, collate_fn=dict(type='pseudo_collate'),
                              dataset=dict(type='LatentDataset', metainfo=dict(classes=CLASSES))),
        val_dataloader=test_dataloader, test_dataloader=test_dataloader,
        val_evaluator=dict(type='ClsAccuracy', topk=1), test_evaluator=dict(type='ClsAccuracy', topk=1),
        val_cfg=dict(type='ValLoop'), test_cfg=dict(type='TestLoop'))
    model = MODELS.build(model_cfg).eval()
    return save_run(folder, 'tiny_cls', cfg, model) + (model, )
