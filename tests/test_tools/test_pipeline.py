"""tools/run_pipeline.py: the quick path on a tiny benchmark writes the table, results.json and PNGs."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdfkd.apis.pipeline import ensure_data, markdown_table, real_image_distill_config, run_pipeline, table_metrics
from mmdfkd.testing import write_tiny_benchmark

ROW_KEYS = {'name', 'metrics', 'params', 'flops', 'latency_ms', 'stage_s', 'checkpoint', 'input_size'}


def test_quick_pipeline_trains_missing_teacher_and_writes_results(tmp_path):
    paths = write_tiny_benchmark(tmp_path, train_teacher=False)
    work_dir = str(tmp_path / 'pipeline')
    results = run_pipeline('det', paths['config'], work_dir, quick=True, quick_iters=2, latency_repeats=2,
                           latency_warmup=1, cfg_options={'model.generator_warmup_iters': 10})
    assert results['cfg_options']['model.generator_warmup_iters'] == 1  # else no student step in a quick run
    assert not osp.exists(paths['teacher_checkpoint'])  # a quick teacher never lands on the cached path
    with open(osp.join(work_dir, 'results.json')) as f:
        saved = json.load(f)
    assert saved['table'] == results['table']
    assert {'task', 'config', 'quick', 'rows', 'stages_s', 'latency', 'latency_ratio', 'params_ratio',
            'flops_ratio', 'distill', 'plots', 'wall_s', 'table'} <= set(saved)
    teacher, student = saved['rows']
    assert [teacher['name'], student['name']] == ['teacher', 'data-free student']
    assert ROW_KEYS <= set(teacher) and ROW_KEYS <= set(student)
    assert set(teacher['metrics']) == set(student['metrics']) == {'mAP', 'AP50'}
    assert not teacher.get('stage_note') and teacher['stage_s'] > 0  # trained here
    assert saved['distill']['max_iters'] == 2 and [p['step'] for p in saved['distill']['val_curve']] == [1, 2]
    assert teacher['checkpoint'].startswith(work_dir)
    for name in ('metric_vs_iter', 'synthetic_grid', 'teacher_vs_student'):
        path = saved['plots'][name]
        assert path.endswith('.png') and osp.getsize(path) > 0
    assert {'train teacher teacher.py', 'distill', 'evaluate', 'costs', 'report'} <= set(saved['stages_s'])
    assert results['table'].count('\n') == 3 and '| data-free student |' in results['table']


def test_cached_teacher_is_reused_and_baselines_run(tmp_path):
    paths = write_tiny_benchmark(tmp_path, train_teacher=True)
    results = run_pipeline('det', paths['config'], str(tmp_path / 'pipeline'), quick=True, quick_iters=1,
                           baselines=True, latency_repeats=1, latency_warmup=0)
    names = [row['name'] for row in results['rows']]
    assert names == ['teacher', 'data-free student', 'student, real data, no teacher',
                     'student, distilled on real images']
    assert results['rows'][0]['checkpoint'] == paths['teacher_checkpoint']
    assert results['rows'][0]['stage_note'] == ' (cached)'
    assert results['baselines'] == dict(student_updates=1, batch_size=2)
    assert '(cached)' in results['table'] and results['table'].count('\n') == 5


def test_real_image_generator_gives_real_pixels(tmp_path):
    from mmdfkd.registry import MODELS
    paths = write_tiny_benchmark(tmp_path)
    cfg = real_image_distill_config(Config.fromfile(paths['config']), paths['teacher_config'])
    assert cfg.model.generator_steps == 0 and not cfg.model.priors and cfg.model.fresh_student_batches
    generator = MODELS.build(cfg.model.generator)
    torch.manual_seed(0)
    pixels = generator(3)
    assert pixels.shape == (3, 3, 64, 64) and pixels.min() >= 0 and pixels.max() <= 255
    import cv2
    first = cv2.imread(osp.join(paths['data_root'], 'images', 'train', '000.png'))[..., ::-1]  # RGB
    images = {tuple(torch.from_numpy(cv2.imread(osp.join(paths['data_root'], 'images', 'train', f'{i:03d}.png'))
                                     [..., ::-1].copy()).permute(2, 0, 1).flatten()[:32].tolist())
              for i in range(4)}
    assert first.shape == (64, 64, 3)
    assert all(tuple(p.flatten()[:32].to(torch.uint8).tolist()) in images for p in pixels)


def test_missing_bundled_data_is_built(tmp_path, monkeypatch):
    calls = []
    import mmdfkd.datasets.digits as digits
    monkeypatch.setattr(digits, 'build_digits_det', lambda root: calls.append(root))
    cfg = Config(dict(val_cfg=dict(type='ValLoop'), val_dataloader=dict(dataset=dict(
        type='CocoDataset', data_root=str(tmp_path / 'digits-det') + '/', ann_file='annotations/instances_val.json'))))
    with pytest.raises(FileNotFoundError, match='prepare_data.py digits-det'):
        ensure_data(cfg, ('val', ))  # the fake builder writes nothing, so the check still fails
    assert calls == [str(tmp_path / 'digits-det')]


def test_markdown_table_formats_rows():
    rows = [dict(name='teacher', metrics=dict(mAP=0.7721, AP50=0.93), params=3.72e6, flops=1.5e9, latency_ms=12.345,
                 stage_s=0.0, stage_note=' (cached)'),
            dict(name='data-free student', metrics={}, params=None, flops=None, latency_ms=None, stage_s=700.0)]
    table = markdown_table(dict(task='det', rows=rows))
    assert table.splitlines()[0] == '| model | mAP | AP50 | params | FLOPs | CPU latency | stage wall time |'
    assert '| teacher | 0.772 | 0.930 | 3.720 M | 1.500 G | 12.35 ms | 0.0 s (cached) |' in table
    assert '| data-free student | n/a | n/a | n/a | n/a | n/a | 11.7 min |' in table


def test_quick_cls_pipeline_with_baselines(tmp_path):
    from mmdfkd.testing import write_tiny_cls_benchmark
    paths = write_tiny_cls_benchmark(tmp_path)
    results = run_pipeline('cls', paths['config'], str(tmp_path / 'pipeline'), quick=True, quick_iters=1,
                           baselines=True, latency_repeats=1, latency_warmup=0)
    assert [set(row['metrics']) for row in results['rows']] == [{'top-1'}] * 4
    assert results['table'].splitlines()[0].startswith('| model | top-1 | params |')
    assert results['latency']['input_size'] == [32, 32]
    assert osp.isfile(results['plots']['teacher_vs_student'])


def test_wrong_task_is_refused(tmp_path):
    paths = write_tiny_benchmark(tmp_path)
    with pytest.raises(ValueError, match='--task det'):
        run_pipeline('cls', paths['config'], str(tmp_path / 'pipeline'), quick=True)


def test_no_detections_count_as_zero_map():
    assert table_metrics('det', {}) == dict(mAP=0.0, AP50=0.0)
    assert table_metrics('det', {'coco/bbox_mAP': 0.5, 'coco/bbox_mAP_50': 0.75}) == dict(mAP=0.5, AP50=0.75)
    assert table_metrics('cls', {'accuracy/top1': 0.9}) == {'top-1': 0.9}
