"""Per-generator configs inherit one base and change only the generator and its schedule.

Each generator config is compared with the config it inherits, merged (``Config.to_dict()``):
every key that differs must lie under one of the prefixes that config is allowed to change. The
configs build and train elsewhere (tests/test_configs.py, tests/test_models/test_cls_distill.py,
tests/test_configs/test_dfkd_configs.py).
"""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')

# The generator, its steps and lr, the student steps per iteration and the schedule.
GENERATOR_AND_SCHEDULE = ('model.generator', 'model.generator_steps', 'model.student_steps', 'optim_wrapper.generator',
                          'train_cfg.max_iters', 'param_scheduler.student', 'max_iters', 'inversion_steps')
# The sprite bank's objective replaces the seed paper's priors and trains on fresh composites.
SPRITE_OBJECTIVE = ('model.layout_sampler', 'model.priors', 'model.memory_capacity', 'model.fresh_student_batches',
                    'sprite_box', 'sprite_lr', 'sprite_backgrounds', 'sprite_grey', 'sprite_warp', 'sprites_per_class')
# Detection: the amortised generators add their prior terms and validate / checkpoint / draw on their schedule.
DET_SCHEDULE = ('model.adv_warmup_iters', 'adv_warmup_iters', 'generator_steps', 'student_steps',
                'train_cfg.val_interval', 'custom_hooks', 'default_hooks.checkpoint.interval')

DIGITS_CLS = 'dfkd_deit-nano_deit-pico_digits-cls.py'
CIFAR10 = 'dfkd_deit-s_deit-ti_cifar10.py'
IMAGENET = 'dfkd_deit-b_deit-ti_imagenet.py'
DET_PIXEL = 'dfkd_vitdet-tiny_vit-pico_digits-det_pixel-gen.py'
DET_CONV = 'dfkd_vitdet-tiny_vit-pico_digits-det_conv-gen.py'

# generator config: (the config it inherits, the key prefixes it may change)
GENERATOR_CONFIGS = {
    'dfkd_deit-nano_deit-pico_digits-cls_conv-gen.py': (DIGITS_CLS, GENERATOR_AND_SCHEDULE),
    'dfkd_deit-nano_deit-pico_digits-cls_pixel-gen.py': (DIGITS_CLS, GENERATOR_AND_SCHEDULE),
    'dfkd_deit-nano_deit-pico_digits-cls_sprite-gen.py': (DIGITS_CLS, GENERATOR_AND_SCHEDULE + SPRITE_OBJECTIVE),
    'dfkd_deit-s_deit-ti_cifar10_conv-gen.py': (CIFAR10, GENERATOR_AND_SCHEDULE),
    'dfkd_deit-s_deit-ti_cifar10_pixel-gen.py': (CIFAR10, GENERATOR_AND_SCHEDULE),
    'dfkd_deit-b_deit-ti_imagenet_conv-gen.py': (IMAGENET, GENERATOR_AND_SCHEDULE),
    'dfkd_deit-b_deit-ti_imagenet_pixel-gen.py': (IMAGENET, GENERATOR_AND_SCHEDULE),
    # per-batch pixel inversion instead of the headline's sprites: also its replay memory, priors and batch
    DET_PIXEL: ('dfkd_vitdet_tiny.py', GENERATOR_AND_SCHEDULE + DET_SCHEDULE + (
        'model.layout_sampler.aspect_range', 'model.augment', 'model.priors.tv', 'model.priors.l2',
        'model.fresh_student_batches', 'model.generator_warmup_iters', 'model.memory_capacity', 'model.refine_ratio',
        'batch_size', 'train_dataloader.batch_size', 'optim_wrapper.student.optimizer.lr', 'param_scheduler.generator',
        'warmup_iters')),
    DET_CONV: (DET_PIXEL, GENERATOR_AND_SCHEDULE + DET_SCHEDULE + ('model.priors.adv', )),
    # the transformer generator's attention prior reads the teacher's attention maps
    'dfkd_vitdet-tiny_vit-pico_digits-det_vit-gen.py':
    (DET_CONV, GENERATOR_AND_SCHEDULE + ('model.priors.attn', 'model.teacher.cfg_options', 'model.teacher_taps',
                                         'attn_blocks')),
    # the headline's sprite composition with mattes drawn by the transformer, plus its attention prior
    'dfkd_vitdet-tiny_vit-pico_digits-det_sprite-vit-gen.py':
    ('dfkd_vitdet_tiny.py', GENERATOR_AND_SCHEDULE + ('model.priors.attn', 'model.teacher.cfg_options',
                                                      'model.teacher_taps', 'attn_blocks')),
}


def load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def flatten(value, prefix: str = '') -> dict:
    """Nested dicts -> {'a.b.c': leaf}; lists and tuples are leaves."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat = {}
    for key, item in value.items():
        flat.update(flatten(item, f'{prefix}.{key}' if prefix else str(key)))
    return flat


def changed_keys(child: dict, base: dict) -> list:
    child, base = flatten(child), flatten(base)
    missing = object()
    return sorted(k for k in set(child) | set(base) if child.get(k, missing) != base.get(k, missing))


def allowed(key: str, prefixes) -> bool:
    return any(key == p or key.startswith(p + '.') for p in prefixes)


def test_every_generator_config_is_listed():
    listed = set(GENERATOR_CONFIGS)
    on_disk = {osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, 'dfkd_*-gen.py'))}
    assert on_disk == listed


def test_changed_keys_sees_nested_added_and_removed_keys():
    base = dict(model=dict(generator=dict(type='A'), teacher=dict(x=1)), lr=1)
    child = dict(model=dict(generator=dict(type='B', size=2), teacher=dict(x=1)))
    assert changed_keys(child, base) == ['lr', 'model.generator.size', 'model.generator.type']
    assert not allowed('model.generator_steps_extra', ('model.generator_steps', ))


@pytest.mark.parametrize('name', sorted(GENERATOR_CONFIGS))
def test_generator_config_differs_from_its_base_only_in_generator_and_schedule(name):
    base_name, prefixes = GENERATOR_CONFIGS[name]
    with open(osp.join(CONFIG_DIR, name)) as f:
        assert f"_base_ = './{base_name}'" in f.read()  # inherits that config, and only it
    child, base = load(name), load(base_name)
    changed = changed_keys(child.to_dict(), base.to_dict())
    assert [k for k in changed if not allowed(k, prefixes)] == []
    assert child.model.generator.type != base.model.generator.type
    # the teacher, the student and the distillation losses are the base's
    assert child.model.student == base.model.student
    assert child.model.distill_losses == base.model.distill_losses
    for key in ('config', 'model', 'checkpoint'):
        assert child.model.teacher.get(key) == base.model.teacher.get(key)
