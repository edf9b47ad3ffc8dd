"""tools/export_student.py: plain student config + weights that mmdet and tools/test.py load, and ONNX."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from mmdfkd.apis import export_onnx, export_student, init_student, prepare_inputs
from mmdfkd.testing import CLASSES, cls_run, det_run

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_det_export_round_trip_through_mmdet_apis(tmp_path):
    from mmdet.apis import inference_detector, init_detector
    config, ckpt, distiller = det_run(tmp_path)
    out = export_student(config, ckpt, str(tmp_path / 'export'))
    saved = torch.load(out['checkpoint'], weights_only=True)
    assert saved['meta']['dataset_meta']['classes'] == CLASSES
    assert all(not k.startswith(('student.', 'teacher.', 'generator.', 'connectors.')) for k in saved['state_dict'])
    cfg = Config.fromfile(out['config'])
    assert cfg.custom_imports.imports == ['mmdfkd'] and cfg.default_scope == 'mmdfkd'
    assert cfg.model.type == 'FCOS' and 'train_dataloader' not in cfg and 'optim_wrapper' not in cfg

    model = init_detector(out['config'], out['checkpoint'], device='cpu')
    assert model.dataset_meta['classes'] == CLASSES
    image = str(tmp_path / 'coco' / 'images' / '000.png')
    got = inference_detector(model, image).pred_instances
    distiller.student.cfg = cfg
    expected = inference_detector(distiller.student, image).pred_instances
    assert len(expected) > 0
    for key in ('bboxes', 'scores', 'labels'):
        assert torch.equal(got[key], expected[key]), key


def test_exported_det_student_runs_under_tools_test(tmp_path):
    from mmdfkd.engine.launch import build_runner, load_config
    config, ckpt, _ = det_run(tmp_path)
    out = export_student(config, ckpt, str(tmp_path / 'export'))
    cfg = load_config(out['config'], work_dir=str(tmp_path / 'test_run'), check_data=('test', ))
    cfg.load_from = out['checkpoint']  # what tools/test.py does
    metrics = build_runner(cfg).test()
    assert 'coco/bbox_mAP' in metrics


def test_cls_export_round_trip(tmp_path):
    config, ckpt, distiller = cls_run(tmp_path)
    out = export_student(config, ckpt, str(tmp_path / 'export'))
    assert out['task'] == 'cls'
    model = init_student(out['config'], out['checkpoint'])
    assert model.dataset_meta['classes'] == CLASSES
    image = str(tmp_path / 'digits' / 'images' / 'val' / '00000.png')
    inputs = prepare_inputs(model, model.cfg, image)
    with torch.no_grad():
        assert torch.equal(model(inputs, mode='tensor'), distiller.student(inputs, mode='tensor'))
        score = model(inputs, mode='predict')[0].pred_score
    assert score.shape == (10, )


@pytest.mark.parametrize('task', ['det', 'cls'])
def test_onnx_outputs_match_pytorch(tmp_path, task):
    pytest.importorskip('onnxruntime', reason='pip install onnx onnxruntime (tools/install.sh does)')
    import onnxruntime as ort
    config, ckpt, _ = (det_run if task == 'det' else cls_run)(tmp_path)
    out = export_student(config, ckpt, str(tmp_path / 'export'))
    image = str(tmp_path / 'coco' / 'images' / '000.png') if task == 'det' else \
        str(tmp_path / 'digits' / 'images' / 'val' / '00000.png')
    inputs = prepare_inputs(out['model'], out['cfg'], image)
    path = str(tmp_path / 'export' / 'student.onnx')
    diff = export_onnx(out['model'], task, inputs, path, metadata=dict(task=task))
    assert diff <= 1e-4
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    names = [o.name for o in session.get_outputs()]
    if task == 'det':  # FCOS, 3 levels
        assert names == [f'{g}_{i}' for g in ('cls_score', 'bbox_pred', 'centerness') for i in range(3)]
    else:
        assert names == ['logits'] and session.run(None, {'inputs': inputs.numpy()})[0].shape == (1, 10)
    assert session.get_modelmeta().custom_metadata_map['task'] == task


def test_onnx_mismatch_fails_and_writes_nothing(tmp_path, monkeypatch):
    pytest.importorskip('onnxruntime', reason='pip install onnx onnxruntime (tools/install.sh does)')
    from mmdfkd import apis as export
    config, ckpt, _ = cls_run(tmp_path)
    out = export_student(config, ckpt, str(tmp_path / 'export'))
    inputs = torch.zeros(1, 3, 32, 32)
    forward = export.RawStudent.forward

    def drifting(self, x):  # PyTorch's reference differs from what was traced by 1
        outputs = forward(self, x)
        return outputs if torch.jit.is_tracing() else tuple(o + 1 for o in outputs)
    monkeypatch.setattr(export.RawStudent, 'forward', drifting)
    path = tmp_path / 'export' / 'student.onnx'
    with pytest.raises(RuntimeError, match='ONNX check failed.*differ by up to 1'):
        export_onnx(out['model'], 'cls', inputs, str(path))
    assert not path.exists() and not list((tmp_path / 'export').glob('.student.onnx*'))


def test_missing_onnx_names_the_pip_command(monkeypatch):
    from mmdfkd import apis as export
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)  # import fails
    with pytest.raises(ImportError, match='pip install onnx onnxruntime'):
        export.require_onnx()


def test_a_checkpoint_without_student_weights_is_refused(tmp_path):
    config, _, distiller = det_run(tmp_path)
    torch.save({'state_dict': distiller.teacher.state_dict()}, tmp_path / 'teacher_only.pth')
    with pytest.raises(ValueError, match=r"not a DataFreeDistiller checkpoint.*\['backbone', 'bbox_head', 'neck'\]"):
        export_student(config, str(tmp_path / 'teacher_only.pth'), str(tmp_path / 'export'))
    with pytest.raises(FileNotFoundError, match='python tools/train.py'):
        export_student(config, str(tmp_path / 'nope.pth'), str(tmp_path / 'export'))
    assert not (tmp_path / 'export').exists()


def test_a_plain_model_config_is_refused(tmp_path):
    _, ckpt, _ = det_run(tmp_path)
    with pytest.raises(ValueError, match="describes a 'FCOS', not a DataFreeDistiller"):
        export_student(osp.join(ROOT, 'configs/teachers/vitdet_digits-det.py'), ckpt, str(tmp_path / 'export'))


def test_student_weights_of_another_architecture_are_refused(tmp_path):
    config, ckpt, _ = det_run(tmp_path)
    with pytest.raises(RuntimeError, match=r"student weights and the config's student: the weights do not match.*"
                                           r"Missing keys: \[bbox_head.cls_convs.1"):
        export_student(config, ckpt, str(tmp_path / 'export'),
                       cfg_options={'model.student.bbox_head.stacked_convs': 2})


def test_cli_exports_checks_onnx_and_reports_the_difference(tmp_path):
    pytest.importorskip('onnxruntime', reason='pip install onnx onnxruntime (tools/install.sh does)')
    config, ckpt, _ = cls_run(tmp_path)
    result = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'export_student.py'), config, ckpt, '--out', str(tmp_path / 'e'),
         '--onnx'], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'max abs difference' in result.stdout and 'first test image' in result.stdout
    assert {p.name for p in (tmp_path / 'e').iterdir()} == {'student.py', 'student.pth', 'student.onnx'}


def test_cli_errors_are_one_line_messages(tmp_path, monkeypatch):
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import export_student as cli
    config, _, distiller = cls_run(tmp_path)
    torch.save({'state_dict': distiller.teacher.state_dict()}, tmp_path / 'teacher_only.pth')
    monkeypatch.setattr(sys, 'argv', ['export_student.py', config, str(tmp_path / 'teacher_only.pth'),
                                      '--out', str(tmp_path / 'e')])
    with pytest.raises(SystemExit, match='export_student: .* is not a DataFreeDistiller checkpoint'):
        cli.main()
    monkeypatch.setattr(sys, 'argv', ['export_student.py', config, str(tmp_path / 'tiny_cls.pth'), '--out',
                                      str(tmp_path / 'e'), '--onnx', '--image', str(tmp_path / 'nope.png')])
    with pytest.raises(SystemExit, match='--image .* does not exist'):
        cli.main()


def _export_shipped(tmp_path, config: str):
    """Export the student of a shipped config with random weights; return (export result, test input)."""
    import cv2
    import numpy as np

    from mmdfkd.apis import build_model, student_config
    config = osp.join(ROOT, config)
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    student = build_model(student_config(cfg))  # random weights: no training run needed
    torch.save({'state_dict': {f'student.{k}': v for k, v in student.state_dict().items()}}, tmp_path / 'run.pth')
    out = export_student(config, str(tmp_path / 'run.pth'), str(tmp_path / 'export'))
    size = cfg.model.generator.img_size
    cv2.imwrite(str(tmp_path / 'img.png'), np.random.RandomState(0).randint(0, 256, (size, size, 3), np.uint8))
    inputs = prepare_inputs(out['model'], out['cfg'], str(tmp_path / 'img.png'))
    assert inputs.shape == (1, 3, size, size)
    return out, inputs


@pytest.mark.parametrize('config', ['configs/dfkd_vitdet_tiny.py', 'configs/dfkd_vitdet-tiny_r18_digits-det.py',
                                    'configs/dfkd_deit-nano_deit-pico_digits-cls.py'])
def test_shipped_students_export_to_onnx(tmp_path, config):
    """The students of the shipped configs (ViT + SimpleFPN / ResNet + FPN + FCOS, timm DeiT) trace and match."""
    pytest.importorskip('onnxruntime', reason='pip install onnx onnxruntime (tools/install.sh does)')
    out, inputs = _export_shipped(tmp_path, config)
    assert export_onnx(out['model'], out['task'], inputs, str(tmp_path / 'export' / 'student.onnx')) <= 1e-4


def test_two_stage_student_exports_for_mmdet_but_not_onnx(tmp_path):
    from mmdet.apis import inference_detector, init_detector
    out, inputs = _export_shipped(tmp_path, 'configs/dfkd_vitdet-tiny_faster-rcnn-r18_digits-det.py')
    model = init_detector(out['config'], out['checkpoint'], device='cpu')
    assert type(model).__name__ == 'FasterRCNN'
    assert len(inference_detector(model, str(tmp_path / 'img.png')).pred_instances) > 0
    with pytest.raises(ValueError, match='ONNX export covers one-stage detectors.*FasterRCNN'):
        export_onnx(out['model'], 'det', inputs, str(tmp_path / 'export' / 'student.onnx'))


def test_onnx_check_image_falls_back_to_noise_without_test_data(tmp_path):
    import shutil

    from mmdfkd.apis import default_test_image
    config, ckpt, _ = cls_run(tmp_path)
    out = export_student(config, ckpt, str(tmp_path / 'export'))
    path, what = default_test_image(out['cfg'], str(tmp_path), out['img_size'])
    assert path.endswith('00000.png') and what.startswith('the first test image')
    shutil.rmtree(tmp_path / 'digits')
    path, what = default_test_image(out['cfg'], str(tmp_path), out['img_size'])
    assert what.startswith('a random 32x32 image (the test set could not be read') and osp.isfile(path)
    assert prepare_inputs(out['model'], out['cfg'], path).shape == (1, 3, 32, 32)
