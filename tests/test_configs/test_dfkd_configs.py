"""Data-free configs (configs/dfkd_*.py): each builds with a random teacher and trains on tiny inputs.

tests/test_configs.py builds every config at full size; here each data-free config is shrunk
to 64x64 images (generator, layouts, the COCO ViTs' windows) and runs real ``train_step``s
with the optimizers the config declares.
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmdfkd.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
DFKD_CONFIGS = sorted(osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, 'dfkd_*.py')))
# Classification configs (task='cls') have their own tests (tests/test_models/test_cls_distill.py).
DET_CONFIGS = [n for n in DFKD_CONFIGS if Config.fromfile(osp.join(CONFIG_DIR, n)).model.task == 'det']
GENERATOR_CONFIGS = ['dfkd_vitdet-tiny_vit-pico_digits-det_conv-gen.py',
                     'dfkd_vitdet-tiny_vit-pico_digits-det_vit-gen.py']
TWO_STAGE_CONFIG = 'dfkd_vitdet-tiny_faster-rcnn-r18_digits-det.py'
COCO_CONFIG = 'dfkd_vitdet-b_vit-s_coco.py'
# Full-size ViTs on 64x64 inputs: 4x4 tokens, so 2x2 windows instead of 14x14 padded ones.
SMALL_INPUT_VIT = {'backbone.img_size': 64, 'backbone.window_size': 2}


def batch(name: str) -> dict:
    """A LatentDataset batch: 2 images, 1 for the ViT-B / ViT-S pair of the COCO config."""
    return dict(index=[0] if name == COCO_CONFIG else [0, 1])


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    # Tiny batches gain nothing from intra-op threads; on a busy 2-core machine two threads
    # made each train_step about 8x slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def repo_root(monkeypatch):
    init_default_scope('mmdfkd')
    monkeypatch.chdir(REPO_ROOT)  # configs name the teacher config relative to the repository root


def load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def tiny_model_cfg(name: str, tmp_path) -> dict:
    """The config's model on 64x64 images, one step per phase, with a random teacher saved in tmp_path."""
    model = load(name).model
    teacher = model.teacher
    # A random FCOS teacher scores about 0.01: keep its boxes so that pseudo labels exist.
    options = {'model.test_cfg.score_thr': 0.0, **dict(teacher.get('cfg_options') or {})}
    if name == COCO_CONFIG:
        options.update({f'model.{k}': v for k, v in SMALL_INPUT_VIT.items()})
        model.student.backbone.update({k.split('.')[1]: v for k, v in SMALL_INPUT_VIT.items()})
    teacher.cfg_options = options
    teacher_cfg = Config.fromfile(teacher.config)
    teacher_cfg.merge_from_dict(options)
    teacher.checkpoint = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': MODELS.build(teacher_cfg.model).state_dict()}, teacher.checkpoint)

    model.generator.img_size = 64
    if 'batch_size' in model.generator:  # the pixel bank holds exactly one batch
        model.generator.batch_size = len(batch(name)['index'])
    model.layout_sampler.update(min_size=12, max_size=30, max_objects=2)
    if model.get('augment'):
        model.augment.update(jitter=2)
    model.pseudo_label.score_thr = 0.0
    model.update(generator_steps=1, student_steps=1, memory_capacity=4, generator_warmup_iters=0)
    return model


def build(name: str, tmp_path):
    model = MODELS.build(tiny_model_cfg(name, tmp_path))
    optim = build_optim_wrapper(model, load(name).optim_wrapper)
    model.train()
    return model, optim


def snapshot(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items() if v.is_floating_point()}


def changed(before: dict, module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items() if k in before)


def test_every_det_config_is_covered():
    assert set(GENERATOR_CONFIGS + [TWO_STAGE_CONFIG, COCO_CONFIG]) < set(DET_CONFIGS)


@pytest.mark.parametrize('name', [n for n in DET_CONFIGS if n not in GENERATOR_CONFIGS + [TWO_STAGE_CONFIG]])
def test_config_trains_one_step_on_tiny_inputs(name, tmp_path):
    torch.manual_seed(0)
    model, optim = build(name, tmp_path)
    teacher0, student0 = snapshot(model.teacher), snapshot(model.student)
    log = model.train_step(batch(name), optim)
    assert all(torch.isfinite(v) for v in log.values()), log
    assert {'G.loss_task', 'S.loss_pseudo'} <= set(log)
    assert changed(student0, model.student) and not changed(teacher0, model.teacher)


@pytest.mark.parametrize('name', GENERATOR_CONFIGS)
def test_generator_config_updates_generator_and_student_not_teacher(name, tmp_path):
    torch.manual_seed(0)
    model, optim = build(name, tmp_path)
    assert not model.generator.holds_batch and model.generator.num_classes == 10
    teacher0, student0, generator0 = snapshot(model.teacher), snapshot(model.student), snapshot(model.generator)

    log = model.train_step(dict(index=[0, 1]), optim)  # iteration 0: still warming up
    assert 'G.loss_adv' not in log and {'G.loss_task', 'G.loss_tv', 'S.loss_head', 'S.loss_feats'} <= set(log)
    assert changed(generator0, model.generator) and changed(student0, model.student)
    assert not changed(teacher0, model.teacher)

    model._iter.fill_(model.adv_warmup_iters)
    log = model.train_step(dict(index=[0, 1]), optim)
    assert 'G.loss_adv' in log and all(torch.isfinite(v) for v in log.values()), log
    assert not changed(teacher0, model.teacher)
    assert all(p.grad is None for p in model.teacher.parameters())


def test_vit_gen_config_records_teacher_attention(tmp_path):
    torch.manual_seed(0)
    model, optim = build('dfkd_vitdet-tiny_vit-pico_digits-det_vit-gen.py', tmp_path)
    assert model.teacher.backbone.expose_attention
    assert type(model.priors['attn']).__name__ == 'AttentionConsistencyPrior'
    with model.teacher_recorder:
        model.teacher._forward(torch.randn(2, 3, 64, 64))
    heads, tokens = model.teacher.backbone.blocks[2].attn.num_heads, (64 // model.teacher.backbone.patch_size)**2
    assert [tuple(a.shape) for a in model.teacher_recorder.taps['attn']] == [(2 * heads, tokens, tokens)] * 2
    log = model.train_step(dict(index=[0, 1]), optim)
    assert 0 < float(log['G.loss_attn']) <= 2


def test_two_stage_student_learns_from_pseudo_labels_only(tmp_path):
    torch.manual_seed(0)
    model, optim = build(TWO_STAGE_CONFIG, tmp_path)
    assert type(model.student).__name__ == 'FasterRCNN' and 'head' not in model.loss_taps
    losses_S = []
    student_loss = model.student.loss

    def spy(*args, **kwargs):
        losses_S.append(student_loss(*args, **kwargs))
        return losses_S[-1]

    model.student.loss = spy
    student0 = snapshot(model.student)
    logs = [model.train_step(dict(index=[0, 1]), optim) for _ in range(2)]
    assert all(set(log) >= {'S.loss_pseudo', 'S.loss_feats'} and 'S.loss_head' not in log for log in logs)
    assert all(torch.isfinite(v) for log in logs for v in log.values()), logs
    assert changed(student0, model.student)
    assert len(losses_S) == 2
    for losses in losses_S:
        assert {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox'} <= set(losses)


def test_r18_student_connector_takes_its_fpn_width():
    cfg = load('dfkd_vitdet-tiny_r18_digits-det.py')
    assert cfg.model.student.backbone.type == 'ResNet' and cfg.model.student.neck.type == 'FPN'
    assert cfg.model.connectors.feats.in_channels == cfg.model.student.neck.out_channels
    assert cfg.model.student.bbox_head.in_channels == cfg.model.student.neck.out_channels


def test_coco_config_evaluates_on_coco_val_with_80_classes():
    cfg = load(COCO_CONFIG)
    coco = Config.fromfile(osp.join(CONFIG_DIR, '_base_', 'datasets', 'coco-det_lsj-1024.py'))
    for key in ('val_dataloader', 'test_dataloader', 'val_evaluator', 'test_evaluator'):
        assert cfg[key].to_dict() == coco[key].to_dict(), key
    assert cfg.model.teacher.config == 'configs/teachers/vitdet-b_coco.py'
    teacher = Config.fromfile(cfg.model.teacher.config).model
    for key in ('backbone.patch_size', 'neck.scale_factors', 'neck.num_outs', 'bbox_head.strides'):
        part, field = key.split('.')
        assert cfg.model.student[part][field] == teacher[part][field], key  # dense-head KD: same point grid
    assert len(cfg.train_dataloader.dataset.metainfo.classes) == 80 == cfg.model.student.bbox_head.num_classes
    assert cfg.model.generator.img_size == 1024 and cfg.train_dataloader.batch_size == cfg.model.generator.batch_size
    assert cfg.train_dataloader.dataset.type == 'LatentDataset'
