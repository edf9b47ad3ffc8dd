"""mmdfkd.analysis: params/FLOPs, interleaved latency, and Runner vs plain-PyTorch timing."""
import pytest
import torch
from mmengine.config import Config

from mmdfkd.analysis import (
    PlainDistillStep,
    benchmark_overhead,
    build_teacher_student,
    compare_latency,
    complexity,
    latency_report,
)
from mmdfkd.registry import MODELS
from mmdfkd.testing import tiny_mask_rcnn, write_tiny_benchmark


@pytest.fixture
def tiny_cfg(tmp_path):
    return Config.fromfile(write_tiny_benchmark(tmp_path)['config'])


def test_complexity_counts_params_and_flops(tiny_cfg):
    teacher, student = build_teacher_student(tiny_cfg)
    info_T, info_S = complexity(teacher, (64, 64)), complexity(student, (64, 64))
    assert info_T['params'] == sum(p.numel() for p in teacher.parameters())
    assert 0 < info_S['flops'] < info_T['flops'] and info_S['params'] < info_T['params']


def test_complexity_of_a_two_stage_detector_counts_its_roi_heads():
    # its tensor forward needs image shapes (the RPN decodes proposals): it once raised instead
    boxes_only = complexity(MODELS.build(tiny_mask_rcnn(with_mask=False)), (64, 64))
    with_masks = complexity(MODELS.build(tiny_mask_rcnn(with_mask=True)), (64, 64))
    assert 0 < boxes_only['flops'] < with_masks['flops']
    assert boxes_only['params'] < with_masks['params']


def test_compare_latency_returns_medians_and_restores_threads(tiny_cfg):
    teacher, student = build_teacher_student(tiny_cfg)
    threads = torch.get_num_threads()
    result = compare_latency(dict(teacher=teacher, student=student), (64, 64), repeats=3, warmup=1, threads=1)
    assert torch.get_num_threads() == threads and result['threads'] == 1
    for name in ('teacher', 'student'):
        times = sorted(result[name]['times_ms'])
        assert len(times) == 3 and result[name]['median_ms'] == times[1] > 0


def test_latency_report_ratios(tiny_cfg):
    report = latency_report(tiny_cfg, repeats=2, warmup=1)
    assert report['input_size'] == [64, 64]
    assert report['latency_ratio'] == pytest.approx(report['student']['latency_ms'] / report['teacher']['latency_ms'])
    assert 0 < report['params_ratio'] < 1 and 0 < report['flops_ratio'] < 1


def test_overhead_times_both_loops(tiny_cfg, tmp_path):
    tiny_cfg.model.generator_warmup_iters = 100  # switched off: every timed iteration is a full one
    result = benchmark_overhead(tiny_cfg, steps=2, warmup=1, work_dir=str(tmp_path / 'overhead'))
    assert len(result['runner_times_ms']) == len(result['plain_times_ms']) == 2
    assert result['runner_ms'] > 0 and result['plain_ms'] > 0
    assert result['ratio'] == pytest.approx(result['runner_ms'] / result['plain_ms'])


def test_plain_step_trains_student_and_generator_not_teacher(tiny_cfg):
    from mmdfkd.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg.model).train()
    before = {k: v.clone() for k, v in model.state_dict(keep_vars=False).items()}
    teacher = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    log = PlainDistillStep(model, tiny_cfg.optim_wrapper)(2)
    assert any(k.startswith('G.') for k in log) and any(k.startswith('S.') for k in log)
    assert all(torch.isfinite(v) for v in log.values())
    after = model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith('student.'))
    assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith('generator.'))
    assert all(torch.equal(v, model.teacher.state_dict()[k]) for k, v in teacher.items())
    assert int(model._iter) == 1


def test_plain_step_skips_the_student_during_generator_warmup(tiny_cfg):
    from mmdfkd.registry import MODELS
    tiny_cfg.model.generator_warmup_iters = 1
    model = MODELS.build(tiny_cfg.model).train()
    log = PlainDistillStep(model, tiny_cfg.optim_wrapper)(2)
    assert log and all(k.startswith('G.') for k in log)


def test_overhead_config_times_full_iterations(tiny_cfg):
    from mmdfkd.analysis import overhead_config
    tiny_cfg.model.generator_warmup_iters = 100
    tiny_cfg.model.adv_warmup_iters = 5
    cfg = overhead_config(tiny_cfg, 3, 'somewhere')
    assert cfg.model.generator_warmup_iters == 0 and cfg.model.adv_warmup_iters == 0
    assert cfg.train_cfg.max_iters == 3 and cfg.val_cfg is None and cfg.default_hooks.checkpoint is None
    assert tiny_cfg.model.generator_warmup_iters == 100  # the caller's config is untouched


def test_plain_loop_and_train_step_give_identical_weights(tiny_cfg):
    """The plain-PyTorch loop runs the distiller's own phases: same seed, same weights after 2 iterations."""
    import copy

    from mmdfkd.engine.optim import DataFreeOptimWrapperConstructor
    from mmdfkd.registry import MODELS
    tiny_cfg.model.generator_warmup_iters = 0
    torch.manual_seed(0)
    runner_model = MODELS.build(tiny_cfg.model).train()
    plain_model = copy.deepcopy(runner_model)
    wrappers = DataFreeOptimWrapperConstructor(copy.deepcopy(tiny_cfg.optim_wrapper.to_dict()))(runner_model)
    plain = PlainDistillStep(plain_model, tiny_cfg.optim_wrapper)
    torch.manual_seed(1)
    logs_runner = [runner_model.train_step(dict(index=[0, 1]), wrappers) for _ in range(2)]
    torch.manual_seed(1)
    logs_plain = [plain(2) for _ in range(2)]
    assert [sorted(log) for log in logs_runner] == [sorted(log) for log in logs_plain]
    assert any(k.startswith('S.') for k in logs_plain[-1]), 'the student must have trained'
    state_runner, state_plain = runner_model.state_dict(), plain_model.state_dict()
    assert state_runner.keys() == state_plain.keys()
    for key, value in state_runner.items():
        assert torch.equal(value, state_plain[key]), key
    assert int(plain_model._iter) == int(runner_model._iter) == 2
