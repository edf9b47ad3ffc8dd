"""Tiny models, datasets and finished runs that the tests (and users' own tests) share.

Everything here runs in seconds on a CPU; nothing is a benchmark.
"""
from .benchmarks import RUNTIME, scoring_fcos, tiny_det_dataloaders, write_tiny_benchmark, write_tiny_cls_benchmark
from .data import demo_cls_inputs, write_coco_fixture, write_coco_splits, write_digits_cls_fixture
from .models import (
                     CLASSES,
                     GENERATORS,
                     build_with_optim,
                     changed,
                     det_distiller_cfg,
                     snapshot,
                     tiny_classifier,
                     tiny_fcos,
                     tiny_mask_rcnn,
)
from .runs import cls_run, det_run, save_run

__all__ = [
    'RUNTIME', 'scoring_fcos', 'tiny_det_dataloaders', 'write_tiny_benchmark', 'write_tiny_cls_benchmark',
    'demo_cls_inputs', 'write_coco_fixture', 'write_coco_splits', 'write_digits_cls_fixture', 'CLASSES', 'GENERATORS',
    'build_with_optim', 'changed', 'det_distiller_cfg', 'snapshot', 'tiny_classifier', 'tiny_fcos', 'tiny_mask_rcnn',
    'cls_run',
    'det_run', 'save_run'
]
