"""A tiny detection benchmark on disk for the pipeline and benchmark tests.

Writes, under one folder: a COCO-format dataset laid out like Digits-Det
(``annotations/instances_{train,val}.json``, ``images/{train,val}/``, 64x64
noise images with one box each), ``teacher.py`` (a 2-block ViT FCOS trained on
its train split, as ``configs/teachers/vitdet_digits-det.py`` is) and
``dfkd.py`` (a data-free distiller of that teacher into a 1-block student, as
``configs/dfkd_vitdet_tiny.py``). The teacher checkpoint named in ``dfkd.py``
is written only when asked, so that tests can cover training it.
"""
import os
import os.path as osp
import pathlib

import torch
from mmengine.config import Config

from .data import write_coco_splits, write_digits_cls_fixture
from .models import CLASSES, det_distiller_cfg, tiny_classifier, tiny_fcos


def tiny_det_dataloaders(data_root: str) -> dict:
    """Train/val/test dataloaders and COCO evaluators over :func:`write_coco_splits` data."""
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='Resize', scale=(64, 64), keep_ratio=True), dict(type='PackDetInputs')]
    test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
                     dict(type='LoadAnnotations', with_bbox=True),
                     dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                                           'scale_factor'))]
    dataset = dict(type='CocoDataset', data_root=data_root + '/', metainfo=dict(classes=CLASSES))
    val = dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
               dataset=dict(dataset, ann_file='annotations/instances_val.json', data_prefix=dict(img='images/val/'),
                            test_mode=True, pipeline=test_pipeline))
    evaluator = dict(type='CocoMetric', ann_file=osp.join(data_root, 'annotations', 'instances_val.json'),
                     metric='bbox')
    return dict(
        train_dataloader=dict(
            batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
            dataset=dict(dataset, ann_file='annotations/instances_train.json', data_prefix=dict(img='images/train/'),
                         pipeline=pipeline)),
        val_dataloader=val, test_dataloader=val, val_evaluator=evaluator, test_evaluator=evaluator,
        val_cfg=dict(type='ValLoop'), test_cfg=dict(type='TestLoop'))


RUNTIME = dict(default_scope='mmdfkd', log_level='WARNING', randomness=dict(seed=0),
               default_hooks=dict(timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval=1),
                                  param_scheduler=dict(type='ParamSchedulerHook'),
                                  checkpoint=dict(type='AtomicCheckpointHook', interval=100, by_epoch=False)),
               vis_backends=[dict(type='LocalVisBackend')],
               visualizer=dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')]),
               log_processor=dict(type='LogProcessor', window_size=1, by_epoch=False))


def scoring_fcos(**kwargs) -> dict:
    """tiny_fcos with score_thr 0: a random model's scores are ~0.01, and COCO metrics need detections."""
    model = tiny_fcos(**kwargs)
    model['test_cfg'] = dict(model['test_cfg'], score_thr=0.0)
    return model


def write_tiny_benchmark(folder, train_teacher: bool = True, max_iters: int = 2) -> dict:
    """Write data, teacher config (and checkpoint) and distillation config; returns their paths."""
    from mmdfkd.registry import MODELS
    folder = str(folder)
    data_root = write_coco_splits(osp.join(folder, 'data'))
    teacher_work_dir = osp.join(folder, 'teacher')
    teacher_ckpt = osp.join(teacher_work_dir, f'iter_{max_iters}.pth')
    teacher_cfg = dict(
        RUNTIME, model=scoring_fcos(), work_dir=teacher_work_dir,
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)),
        **tiny_det_dataloaders(data_root))
    teacher_config = osp.join(folder, 'teacher.py')
    Config(teacher_cfg).dump(teacher_config)
    if train_teacher:
        torch.manual_seed(0)
        os.makedirs(teacher_work_dir, exist_ok=True)
        torch.save({'state_dict': MODELS.build(scoring_fcos()).state_dict()}, teacher_ckpt)
    model = det_distiller_cfg(pathlib.Path(folder), 'conv', priors=dict(task=dict(type='DetTaskPrior')),
                              generator_steps=1, student_steps=1, memory_capacity=4)
    model['teacher'] = dict(config=teacher_config, checkpoint=teacher_ckpt)
    model['student'] = scoring_fcos(embed_dim=16, neck=16, depth=1)
    dataloaders = tiny_det_dataloaders(data_root)
    dataloaders['train_dataloader'] = dict(
        batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=False),
        collate_fn=dict(type='pseudo_collate'), dataset=dict(type='LatentDataset', metainfo=dict(classes=CLASSES)))
    dfkd_cfg = dict(
        RUNTIME, model=model, **dataloaders,
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=1),
        optim_wrapper=dict(constructor='DataFreeOptimWrapperConstructor',
                           generator=dict(optimizer=dict(type='Adam', lr=1e-2)),
                           student=dict(optimizer=dict(type='AdamW', lr=1e-3), clip_grad=dict(max_norm=10.0))),
        custom_hooks=[dict(type='SyntheticImageHook', interval=1)])
    dfkd_config = osp.join(folder, 'dfkd.py')
    Config(dfkd_cfg).dump(dfkd_config)
    return dict(data_root=data_root, teacher_config=teacher_config, teacher_checkpoint=teacher_ckpt,
                config=dfkd_config)


def write_tiny_cls_benchmark(folder, max_iters: int = 2, num_val: int = 2) -> dict:
    """The classification counterpart: Digits-Cls-format data, ``teacher.py`` + checkpoint, ``dfkd.py``."""
    from mmdfkd.registry import MODELS
    folder = str(folder)
    data_root = write_digits_cls_fixture(osp.join(folder, 'digits'), num_train=4, num_val=num_val)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackClsInputs')]
    dataset = dict(type='DigitsClsDataset', data_root=data_root + '/', pipeline=pipeline)
    val = dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
               dataset=dict(dataset, ann_file='annotations/val.json', test_mode=True))
    loaders = dict(val_dataloader=val, test_dataloader=val, val_evaluator=dict(type='ClsAccuracy', topk=1),
                   test_evaluator=dict(type='ClsAccuracy', topk=1), val_cfg=dict(type='ValLoop'),
                   test_cfg=dict(type='TestLoop'))
    runtime = dict(RUNTIME, visualizer=dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')]))
    teacher_ckpt = osp.join(folder, 'teacher', 'iter_100.pth')
    os.makedirs(osp.dirname(teacher_ckpt), exist_ok=True)
    torch.manual_seed(0)
    torch.save({'state_dict': MODELS.build(tiny_classifier()).state_dict()}, teacher_ckpt)
    teacher_config = osp.join(folder, 'teacher.py')
    Config(dict(runtime, model=tiny_classifier(), **loaders,
                train_dataloader=dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler'),
                                      dataset=dict(dataset, ann_file='annotations/train.json')),
                train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters),
                optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)))).dump(teacher_config)
    model = dict(type='DataFreeDistiller', task='cls', teacher=dict(config=teacher_config, checkpoint=teacher_ckpt),
                 student=tiny_classifier(embed_dim=16),
                 generator=dict(type='ConvGenerator', latent_dim=16, img_size=32),
                 priors=dict(conf=dict(type='ConfidencePrior', loss_weight=1.0)),
                 distill_losses=dict(kd=dict(type='KLDivLoss', tap='logits', tau=4.0)))
    config = osp.join(folder, 'dfkd.py')
    Config(dict(runtime, model=model, **loaders,
                train_dataloader=dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=False),
                                      collate_fn=dict(type='pseudo_collate'),
                                      dataset=dict(type='LatentDataset', metainfo=dict(classes=CLASSES))),
                train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=1),
                optim_wrapper=dict(constructor='DataFreeOptimWrapperConstructor',
                                   generator=dict(optimizer=dict(type='Adam', lr=1e-2)),
                                   student=dict(optimizer=dict(type='AdamW', lr=1e-3))),
                custom_hooks=[dict(type='SyntheticImageHook', interval=1)])).dump(config)
    return dict(data_root=data_root, teacher_config=teacher_config, teacher_checkpoint=teacher_ckpt, config=config)
