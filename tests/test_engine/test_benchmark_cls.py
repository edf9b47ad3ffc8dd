"""mmdfkd.analysis.cls_benchmark: which validation it credits, the command it records, mean ± std over seeds."""
import json
import os
import os.path as osp
import time

import pytest

from mmdfkd.analysis import cls_benchmark as benchmark_cls

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def write_scalars(work_dir, run, entries, mtime=None):
    path = osp.join(work_dir, run, 'vis_data', 'scalars.json')
    os.makedirs(osp.dirname(path))
    with open(path, 'w') as f:
        f.writelines(json.dumps(e) + '\n' for e in entries)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def test_last_val_metrics_takes_the_last_validation_of_the_newest_run_not_the_best(tmp_path):
    work_dir = str(tmp_path)
    write_scalars(work_dir, '20260101_000000', [{'accuracy/top1': 0.9, 'step': 100}], mtime=time.time() - 100)
    # MMEngine logs the validation of an iteration loop with step 0; `iter` is the last train step before it.
    write_scalars(work_dir, '20260101_020000', [
        {'loss': 1.0, 'step': 100}, {'accuracy/top1': 0.7, 'step': 0}, {'loss': 0.5, 'step': 200},
        {'accuracy/top1': 0.6, 'step': 0}])
    assert benchmark_cls.last_val_metrics(work_dir) == {'accuracy/top1': 0.6, 'step': 0, 'iter': 200}
    # A run started after every scalars file was written (it failed before validating) gets nothing.
    assert benchmark_cls.last_val_metrics(work_dir, since=time.time() + 10) is None
    assert benchmark_cls.last_val_metrics(str(tmp_path / 'missing')) is None


def test_commands_name_the_kind_threads_seed_and_options():
    # each kind runs its own config (configs/dfkd_deit-nano_deit-pico_digits-cls[_<kind>-gen].py)
    cmd = benchmark_cls.train_command('sprite', 'work_dirs/b', cfg_options=['train_cfg.max_iters=10'])
    sprite = 'configs/dfkd_deit-nano_deit-pico_digits-cls_sprite-gen.py'
    assert cmd == ['python', 'tools/train.py', sprite, '--work-dir', 'work_dirs/b/sprite',
                   '--cfg-options', 'train_cfg.max_iters=10']
    line = benchmark_cls.shell_line({'OMP_NUM_THREADS': '1'}, cmd)
    assert line.startswith(f'OMP_NUM_THREADS=1 python tools/train.py {sprite}')
    assert set(benchmark_cls.KINDS) == {'sprite', 'vit', 'conv', 'pixel'}
    for kind, config in benchmark_cls.KIND_CONFIGS.items():
        assert osp.isfile(osp.join(REPO_ROOT, config)), (kind, config)
    # --config runs one config for every kind; a seed gets its own work dir and randomness.seed
    one = 'configs/dfkd_deit-nano_deit-pico_digits-cls.py'
    assert benchmark_cls.train_command('conv', 'w', config=one, seed=2) == [
        'python', 'tools/train.py', one, '--work-dir', 'w/conv_seed2', '--cfg-options', 'randomness.seed=2']


def test_table_reports_mean_and_std_over_seeds():
    rows = [dict(kind='conv', seed=s, top1=t, step=350, wall=60.0, command=f'cmd {s}')
            for s, t in ((0, 0.96), (1, 0.97), (2, 0.98))]
    rows.append(dict(kind='vit', seed=0, top1=None, step=None, wall=30.0, command='cmd v'))
    table = benchmark_cls.markdown_table(rows, teacher_top1=0.98)
    conv, vit = table.splitlines()[2:]
    assert '0.970 ± 0.010 (3 seeds)' in conv and '0.990 ± 0.010 (3 seeds)' in conv and '1.0 min' in conv
    assert '| vit | failed' in vit
    assert benchmark_cls.mean_std([0.5]) == '0.500 (single run)'
    with pytest.raises(ValueError, match="Unknown generator kinds \\['nope'\\]"):
        benchmark_cls.benchmark_cls(['nope'], 'w')


def test_max_iters_in_log(tmp_path):
    log = tmp_path / 'conv.log'
    log.write_text('11/28 01:35:52 - mmengine - INFO - Iter(train) [ 20/350]  lr: 1\n'
                   '11/28 01:35:53 - mmengine - INFO - Iter(train) [340/350]  lr: 1\n')
    assert benchmark_cls.max_iters_in_log(str(log)) == 350
    assert benchmark_cls.max_iters_in_log(str(tmp_path / 'none.log')) is None
