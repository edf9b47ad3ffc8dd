"""TrainTimeHook and mmdfkd.analysis.generator_comparison: time-stamped validations, time to target, images/s."""
import pytest
from mmengine.config import Config

from mmdfkd.analysis import generator_comparison as benchmark_generators
from mmdfkd.analysis import images_per_second, metric_at, read_scalars, time_to_target, timed_curve, with_train_timer
from mmdfkd.engine import TrainTimeHook
from mmdfkd.engine.launch import build_runner
from mmdfkd.testing import write_tiny_cls_benchmark


def _timed_run(tmp_path, max_iters: int, budget_s=None, seed=0) -> tuple:
    config = write_tiny_cls_benchmark(tmp_path, max_iters=max_iters)['config']
    cfg = with_train_timer(Config.fromfile(config), val_interval=2, budget_s=budget_s)
    cfg.work_dir = str(tmp_path / 'run')
    cfg.randomness = dict(seed=seed)
    build_runner(cfg).train()
    return timed_curve(read_scalars(cfg.work_dir), 'accuracy/top1'), config, cfg.work_dir


def test_each_validation_logs_iteration_training_time_and_images(tmp_path):
    curve, config, run_dir = _timed_run(tmp_path, max_iters=4, seed=7)
    assert [p['iter'] for p in curve] == [2, 4]
    assert 0 < curve[0]['train_s'] < curve[1]['train_s']
    assert [p['synthetic_images'] for p in curve] == [4, 8]  # batch 2, one batch drawn per iteration
    assert all(0.0 <= p['metric'] <= 1.0 for p in curve)
    row = benchmark_generators.finished_run(f'{config}@{run_dir}')  # the tool reads it back
    assert row['curve'] == curve and row['generator'] == 'ConvGenerator' and row['metric'] == 'accuracy/top1'
    assert row['seed'] == 7 and row['subset_val'] is False  # from the config the run dumped, not CONFIG's
    with pytest.raises(FileNotFoundError, match='TrainTimeHook'):
        benchmark_generators.finished_run(f'{config}@{tmp_path / "elsewhere"}')


def test_budget_stops_training_at_the_first_validation_past_it(tmp_path):
    curve = _timed_run(tmp_path, max_iters=8, budget_s=1e-3)[0]
    assert [p['iter'] for p in curve] == [2]


def test_budget_must_be_positive():
    with pytest.raises(ValueError, match='budget_s'):
        TrainTimeHook(budget_s=0)


def test_with_train_timer_replaces_an_earlier_timer_and_keeps_other_hooks():
    cfg = Config(dict(custom_hooks=[dict(type='SyntheticImageHook'), dict(type='TrainTimeHook')],
                      train_cfg=dict(type='IterBasedTrainLoop', max_iters=10, val_interval=5),
                      default_hooks=dict()))
    timed = with_train_timer(cfg, val_interval=3, budget_s=60)
    assert [h['type'] for h in timed.custom_hooks] == ['SyntheticImageHook', 'TrainTimeHook']
    assert timed.custom_hooks[1]['budget_s'] == 60 and timed.train_cfg.val_interval == 3
    assert timed.default_hooks.logger.log_metric_by_epoch is False
    assert cfg.train_cfg.val_interval == 5  # the input is not modified
    with pytest.raises(ValueError, match='val_interval'):
        with_train_timer(cfg, val_interval=0, budget_s=None)


CURVE = [dict(iter=10, train_s=60.0, metric=0.2, synthetic_images=80),
         dict(iter=20, train_s=120.0, metric=0.7, synthetic_images=160),
         dict(iter=30, train_s=180.0, metric=0.65, synthetic_images=240)]


def test_time_to_target_and_images_per_second():
    assert time_to_target(CURVE, 0.7) == 120.0
    assert time_to_target(CURVE, 0.2) == 60.0
    assert time_to_target(CURVE, 0.71) is None
    assert images_per_second(CURVE) == pytest.approx(240 / 180)
    assert images_per_second([dict(CURVE[0], synthetic_images=None)]) is None
    assert images_per_second([]) is None


def test_metric_at_a_budget_is_the_last_validation_within_it():
    assert metric_at(CURVE, 150.0)['iter'] == 20
    assert metric_at(CURVE, 180.0)['iter'] == 30
    assert metric_at(CURVE, 59.0) is None


def test_equal_budget_column_and_subset_validations_are_marked():
    subset = dict(generator='SpriteBankGenerator', config='sprites.py', metric='coco/bbox_mAP', curve=CURVE,
                  subset_val=True)
    full = dict(subset, generator='ConvGenerator', config='conv.py', subset_val=False)
    header, _, sprites, conv = benchmark_generators.markdown_table(
        [subset, full], teacher=0.7, targets=[0.9], budget_min=2.5).splitlines()
    assert '| training time | mAP at 2.5 min | time to 0.9x teacher (0.630) |' in header
    # at 150 s the last validation is iteration 20 (0.7), a subset one for the sprite run
    assert sprites.endswith('| 3.0 min | 0.700 (20)* | 2.0 min* | 1.33 |')
    assert conv.endswith('| 3.0 min | 0.700 (20) | 2.0 min (1.0x) | 1.33 |')
    early = benchmark_generators.markdown_table([full], teacher=0.7, targets=[0.9], budget_min=0.5)
    assert '| none yet |' in early
    # the last (whole-split) validation of a subset-validated run carries no mark
    late = benchmark_generators.markdown_table([subset], teacher=0.7, targets=[0.9], budget_min=3.0)
    assert '| 0.650 (30) |' in late


def test_table_times_each_target_and_speed_up_against_the_first_row():
    slow = dict(generator='PixelBankGenerator', config='pixel.py', metric='coco/bbox_mAP', curve=CURVE)
    fast = dict(generator='SpriteBankGenerator', config='sprites.py', metric='coco/bbox_mAP',
                curve=[dict(iter=5, train_s=30.0, metric=0.72, synthetic_images=300)])
    never = dict(generator='ConvGenerator', config='conv.py', metric='coco/bbox_mAP',
                 curve=[dict(iter=5, train_s=30.0, metric=0.1, synthetic_images=None)])
    table = benchmark_generators.markdown_table([slow, fast, never], teacher=0.7, targets=[0.2, 0.9, 1.05])
    header, rule, pixel, sprites, conv = table.splitlines()
    assert 'time to 0.2x teacher (0.140) | time to 0.9x teacher (0.630) | time to 1.05x teacher (0.735)' in header
    assert rule.count('---') == 8 and header.count('|') == 9
    assert pixel.endswith('| 0.650 (30) | 0.929 | 3.0 min | 1.0 min | 2.0 min | not reached | 1.33 |')
    assert sprites.endswith('| 0.720 (5) | 1.029 | 0.5 min | 0.5 min (2.0x) | 0.5 min (4.0x) | not reached | 10.00 |')
    assert conv.endswith('| 0.100 (5) | 0.143 | 0.5 min | not reached | not reached | not reached | n/a |')


def test_run_spec_parsing():
    assert benchmark_generators.parse_run('configs/a.py:25') == ('configs/a.py', 25)
    assert benchmark_generators.parse_run('configs/a.py') == ('configs/a.py', None)
    with pytest.raises(ValueError, match='>= 1'):
        benchmark_generators.parse_run('configs/a.py:0')


def test_seed_table_gives_mean_and_std_and_how_many_seeds_reached_each_target():
    def run(seed, final, reach_s):
        curve = [dict(iter=10, train_s=reach_s, metric=0.5, synthetic_images=100),
                 dict(iter=20, train_s=240.0, metric=final, synthetic_images=200)]
        return dict(generator='ConvGenerator', config='conv.py', metric='coco/bbox_mAP', curve=curve, seed=seed)
    rows = [run(0, 0.60, 60.0), run(1, 0.62, 120.0), run(2, 0.64, 180.0)]
    rows.append(dict(generator='ViTGenerator', config='vit.py', metric='coco/bbox_mAP', curve=[], seed=0))
    header, rule, conv, vit = benchmark_generators.seed_summary_table(rows, teacher=0.7,
                                                                     targets=[0.5, 0.9]).splitlines()
    assert header.count('|') == rule.count('---') + 1 == 9
    assert conv.startswith('| ConvGenerator (`conv.py`) | 0, 1, 2 | 0.620 ± 0.020 | 0.886 ± 0.029 | 4.0 min |')
    assert conv.endswith('| 2.0 min (3/3) | 4.0 min (1/3) | 0.83 ± 0.00 |')  # only 0.64 >= 0.9 * 0.7
    assert vit.startswith('| ViTGenerator (`vit.py`) | 0 | failed |')
    budget = benchmark_generators.seed_summary_table(rows, teacher=0.7, targets=[0.5], budget_min=2.5)
    conv = budget.splitlines()[2]
    # at 150 s only the seeds that validated by then count: seeds 0 and 1, both at 0.5
    assert '| 4.0 min | 0.500 ± 0.000 (2/3) |' in conv


def test_jobs_train_runs_side_by_side_and_keep_the_table_order(tmp_path, monkeypatch):
    import threading
    both_running = threading.Barrier(2, timeout=5)  # passes only if two runs are in flight at once
    order = []

    def fake_run(spec, work_root, budget_min, threads, cfg_options, command, seed, jobs):
        order.append(spec)
        both_running.wait()
        curve = [dict(iter=10, train_s=60.0 if spec == 'slow.py' else 30.0, metric=0.5, synthetic_images=10)]
        return dict(name=spec, config=spec, generator=spec, metric='coco/bbox_mAP', curve=curve, seed=seed, jobs=jobs)

    monkeypatch.setattr(benchmark_generators, 'run_one', fake_run)
    monkeypatch.setattr(benchmark_generators, 'teacher_score', lambda *args: 0.8)
    text = benchmark_generators.compare_generators(['slow.py', 'fast.py'], str(tmp_path), targets=[0.5], jobs=2)
    assert sorted(order) == ['fast.py', 'slow.py']
    rows = [line for line in text.splitlines() if line.startswith('| slow.py') or line.startswith('| fast.py')]
    assert [row.split(' ')[1] for row in rows] == ['slow.py', 'fast.py']  # the reference first, as given
    assert '(2.0x)' in rows[1]  # fast.py reached 0.5x in half slow.py's time
    with pytest.raises(threading.BrokenBarrierError):  # one at a time: the first run waits alone
        both_running.reset()
        benchmark_generators.compare_generators(['slow.py'], str(tmp_path), targets=[0.5], jobs=1)
