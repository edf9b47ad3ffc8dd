"""One recipe per task: the benchmark configs of a task differ only in teacher, val data, image size and classes.

A recipe tuned to one benchmark would show here as a difference anywhere else.
"""
import os.path as osp

import pytest
from mmengine.config import Config

CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')

# Keys (dotted paths of the merged config) a benchmark may change; everything else must be equal.
ALLOWED = {
    'det': {
        'teacher_config', 'teacher_checkpoint', 'model.teacher.config', 'model.teacher.checkpoint',  # teacher
        'img_size', 'img_scale', 'model.generator.img_size', 'model.student.backbone.img_size',  # image size
        'train_pipeline', 'test_pipeline', 'val_dataloader.dataset.pipeline', 'test_dataloader.dataset.pipeline',
        'data_root', 'val_dataloader.dataset.data_root', 'test_dataloader.dataset.data_root',  # val data
        'val_evaluator.ann_file', 'test_evaluator.ann_file',
        'metainfo.classes', 'train_dataloader.dataset.metainfo.classes',  # classes
        'val_dataloader.dataset.metainfo.classes', 'test_dataloader.dataset.metainfo.classes',
    },
    'cls': {
        'teacher_config', 'teacher_checkpoint', 'model.teacher.config', 'model.teacher.checkpoint',
        'img_size', 'model.generator.img_size', 'model.student.model_kwargs.img_size',
        'val_dataloader.dataset.type', 'val_dataloader.dataset.data_root',
        'test_dataloader.dataset.type', 'test_dataloader.dataset.data_root',
        'classes', 'train_dataloader.dataset.metainfo.classes',
    },
}
BENCHMARKS = {
    'det': ('dfkd_vitdet-tiny_vit-pico_digits-det_generic.py', 'dfkd_vitdet-tiny_vit-pico_glyphs-det.py'),
    'cls': ('dfkd_deit-nano_deit-pico_digits-cls.py', 'dfkd_deit-nano_deit-pico_glyphs-cls.py'),
}


def differences(a, b, prefix=''):
    """Dotted paths where two merged configs differ (lists compared whole)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {p for k in set(a) | set(b) for p in differences(a.get(k), b.get(k), f'{prefix}{k}.')}
    return set() if a == b else {prefix.rstrip('.')}


@pytest.mark.parametrize('task', sorted(BENCHMARKS))
def test_benchmark_configs_share_one_recipe(task):
    first, second = (Config.fromfile(osp.join(CONFIG_DIR, name)).to_dict() for name in BENCHMARKS[task])
    diff = differences(first, second)
    assert diff - ALLOWED[task] == set(), f'{BENCHMARKS[task]} differ beyond teacher/data/size/classes'
    assert {'model.teacher.config', 'model.generator.img_size'} <= diff  # the comparison sees real differences


def test_the_comparison_catches_a_tuned_value():
    first, second = (Config.fromfile(osp.join(CONFIG_DIR, name)).to_dict() for name in BENCHMARKS['det'])
    second['model']['layout_sampler']['num_bins'] = 3
    assert 'model.layout_sampler.num_bins' in differences(first, second) - ALLOWED['det']


def test_detection_recipe_holds_no_dataset_constant():
    recipe = Config.fromfile(osp.join(CONFIG_DIR, '_base_', 'dfkd_det.py'))
    model = recipe.model
    assert model.layout_sampler.type == 'TeacherLayoutSampler'
    assert not {'min_size', 'max_size', 'max_objects'} & set(model.layout_sampler)  # from the teacher
    assert (model.generator.background, model.generator.ink) == ('styles', 'styles')
    assert model.generator.img_size is None and model.generator.num_classes is None  # the benchmark's
