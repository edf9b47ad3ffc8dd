"""Every config loads and builds; Digits-Det configs train and evaluate end to end."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdfkd.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
# Method bases (configs/_base_/dfkd_*.py) hold a distiller without its models: their children build.
CONFIGS = sorted(p for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
                 if not osp.basename(p).startswith('dfkd_') or osp.dirname(p) != osp.join(CONFIG_DIR, '_base_'))
TEACHER_DET = osp.join(CONFIG_DIR, 'teachers', 'vitdet_digits-det.py')
STUDENTS_DET = [osp.join(CONFIG_DIR, name) for name in ('dfkd_vitdet_tiny.py', 'dfkd_vitdet-tiny_r18_digits-det.py')]


@pytest.fixture(autouse=True)
def mmdfkd_scope():
    init_default_scope('mmdfkd')


def _num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _fake_teacher_checkpoint(teacher: dict, path: str) -> str:
    """Save the randomly initialised teacher that ``teacher`` describes to ``path``."""
    model_cfg = Config.fromfile(teacher['config']).model if 'config' in teacher else teacher['model']
    torch.save({'state_dict': MODELS.build(model_cfg).state_dict()}, path)
    return path


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, CONFIG_DIR))
def test_config_loads_and_model_builds(path, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # configs name other configs relative to the repository root
    cfg = Config.fromfile(path)
    if 'model' in cfg:
        # Built without init_weights: pretrained paths are user-supplied. A distiller's
        # teacher checkpoint is replaced by a randomly initialised one of the same architecture.
        teacher = cfg.model.get('teacher')
        if isinstance(teacher, dict) and teacher.get('checkpoint'):
            teacher.checkpoint = _fake_teacher_checkpoint(teacher, str(tmp_path / 'teacher.pth'))
        assert isinstance(MODELS.build(cfg.model), torch.nn.Module)


@pytest.mark.parametrize('student', STUDENTS_DET, ids=osp.basename)
def test_digits_det_students_have_at_most_a_fifth_of_teacher_params(student):
    teacher = MODELS.build(Config.fromfile(TEACHER_DET).model)
    model = MODELS.build(Config.fromfile(student).model.student)
    assert _num_params(model) * 5 <= _num_params(teacher)
    assert type(model.bbox_head) is type(teacher.bbox_head)
    assert model.bbox_head.strides == teacher.bbox_head.strides


@pytest.mark.parametrize('student', STUDENTS_DET, ids=osp.basename)
def test_digits_det_students_predict(student):
    model = MODELS.build(Config.fromfile(student).model.student).eval()
    with torch.no_grad():
        outs = model._forward(torch.randn(1, 3, 64, 64))
    cls_scores = outs[0]
    assert [tuple(s.shape) for s in cls_scores] == [(1, 10, 8, 8), (1, 10, 4, 4), (1, 10, 2, 2)]


def test_vitdet_b_coco_forward_on_small_input():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'teachers', 'vitdet-b_coco.py'))
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        cls_scores, bbox_preds, centernesses = model._forward(torch.randn(1, 3, 64, 64))
    assert [s.shape[-1] for s in cls_scores] == [8, 4, 2, 1, 1]
    assert cls_scores[0].shape[1] == 80 and bbox_preds[0].shape[1] == 4


def test_teacher_det_trains_two_iterations_and_reports_coco_map(tmp_path):
    from mmengine.runner import Runner

    from mmdfkd.datasets.digits import build_digits_det
    data_root = str(tmp_path / 'digits-det') + '/'
    build_digits_det(data_root, num_train=8, num_val=4, seed=0)

    cfg = Config.fromfile(TEACHER_DET)
    cfg.merge_from_dict({
        'model.backbone.embed_dim': 32, 'model.backbone.depth': 2, 'model.backbone.num_heads': 2,
        'model.backbone.global_attn_indexes': (1, ), 'model.neck.in_channels': 32,
        'model.backbone.init_cfg': None,  # the real config starts from the DeiT teacher's checkpoint
        'model.neck.out_channels': 32, 'model.bbox_head.in_channels': 32,
        'model.bbox_head.feat_channels': 32, 'model.bbox_head.stacked_convs': 1,
        # an untrained head scores ~0.01; keep its boxes so that COCO eval has detections to score
        'model.test_cfg.score_thr': 0.0,
        'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
        'param_scheduler': [dict(type='ConstantLR', factor=1.0, by_epoch=False)],
    })
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(batch_size=2, num_workers=0, persistent_workers=False)
        cfg[loader].dataset.data_root = data_root
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].ann_file = data_root + 'annotations/instances_val.json'
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.default_hooks.logger.interval = 1

    runner = Runner.from_cfg(cfg)
    runner.train()
    mAP = runner.message_hub.get_scalar('val/coco/bbox_mAP').current()
    assert 0.0 <= mAP <= 1.0
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_2.pth'))
