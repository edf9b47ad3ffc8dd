"""tools/analyze_cost.py and mmdfkd.analysis.breakdown: exclusive phase times, FLOPs, roofline."""
import json
import os.path as osp
import runpy
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdfkd.analysis import PlainDistillStep
from mmdfkd.analysis.breakdown import ITERATION_PHASES, PHASE_TITLES, PhaseTimer, cost_breakdown, format_breakdown
from mmdfkd.testing import write_tiny_benchmark

TOOL = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'analyze_cost.py')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    init_default_scope('mmdfkd')
    return write_tiny_benchmark(tmp_path_factory.mktemp('cost'))


def test_phases_sum_to_the_iteration_with_flops_and_roofline(tiny):
    result = cost_breakdown(Config.fromfile(tiny['config']), iters=2, warmup=1, threads=1, val_batches=1,
                            log=lambda line: None)
    phases = result['phases']
    assert list(phases) == list(ITERATION_PHASES)
    assert result['phase_sum_ms'] == pytest.approx(result['iteration_ms'], rel=0.05)
    # the tiny config runs every phase: conv generator, task prior, KD losses, pseudo labels
    assert all(row['ms'] > 0 for row in phases.values()), phases
    assert result['validation']['measured_s'] > 0 and result['validation']['images'] == 2
    assert result['checkpoint']['seconds'] > 0 and result['checkpoint']['bytes'] > 0
    assert result['peak']['gflops'] > 0 and result['peak']['threads'] == 1
    for phase in ('synthesis', 'generator_step', 'teacher_student', 'student'):
        assert phases[phase]['gflops_per_s'] > 0 and 0 < phases[phase]['peak_fraction']
    assert phases['pseudo_labels']['gflops_per_s'] is None  # decoding counts no FLOPs
    # batch 2, one generator and one student step: the task prior and the pseudo-label loss reuse the
    # step's forward (DetectionTask.loss), so every image passes each network once
    models = result['models']
    assert (models['teacher']['images_forward'], models['teacher']['images_backward']) == (4, 2)
    assert (models['student']['images_forward'], models['student']['images_backward']) == (2, 2)
    assert (models['generator']['images_forward'], models['generator']['images_backward']) == (4, 2)
    assert all(row['gflop_per_iter'] > 0 for row in models.values())
    text = format_breakdown(result)
    assert all(PHASE_TITLES[phase] in text for phase in phases) and 'GFLOP/s' in text


def test_timer_restores_the_distiller_and_refuses_nesting(tiny):
    from mmdfkd.registry import MODELS
    cfg = Config.fromfile(tiny['config'])
    model = MODELS.build(cfg.model).train()
    step = PlainDistillStep(model, cfg.optim_wrapper)
    with PhaseTimer(model, dict(generator=step.opt_G, student=step.opt_S)) as timer:
        step(2)  # outside measure(): nothing recorded
        assert timer.seconds == {} and timer.forward_images == timer.backward_images == {}
        with timer.measure(), pytest.raises(RuntimeError, match='nested'):
            with timer.measure():
                pass
    assert 'loss' not in vars(model.student) and 'generator_step' not in vars(model)
    assert 'update_params' not in vars(step.opt_S) and 'step' not in vars(step.opt_G.optimizer)
    assert not model.teacher.backbone._forward_hooks and not model.generator._forward_pre_hooks
    assert torch.isfinite(torch.stack(list(step(2).values()))).all()  # still trains


def test_tool_writes_json_and_names_a_random_teacher(tiny, tmp_path, monkeypatch, capsys):
    out = tmp_path / 'cost.json'
    monkeypatch.setattr(sys, 'argv', ['analyze_cost.py', tiny['config'], '--iters', '1', '--warmup', '0',
                                      '--skip-val', '--random-teacher', '--matmul-size', '256', '--out', str(out)])
    runpy.run_path(TOOL, run_name='analyze_cost')['main']()
    printed = capsys.readouterr().out
    assert '[cost] iteration 1/1' in printed and '--random-teacher' in printed
    result = json.loads(out.read_text())
    assert result['random_teacher'] and result['validation'] is None and result['peak']['size'] == 256


def test_missing_teacher_checkpoint_suggests_random_teacher(tiny):
    cfg = Config.fromfile(tiny['config'])
    cfg.model.teacher.checkpoint = '/nonexistent/teacher.pth'
    with pytest.raises(FileNotFoundError, match='--random-teacher'):
        cost_breakdown(cfg, iters=1, log=lambda line: None)


def test_plain_steps_run_in_bf16_for_the_cpu_bf16_wrapper_and_refuse_gpu_amp():
    from mmdfkd.analysis.overhead import PlainOptimizer
    param = torch.nn.Parameter(torch.ones(2, 2))
    with pytest.raises(ValueError, match="'AmpOptimWrapper'"):
        PlainOptimizer([param], dict(type='AmpOptimWrapper', optimizer=dict(type='SGD', lr=0.1)))
    bf16 = PlainOptimizer([param], dict(type='CPUBF16OptimWrapper', optimizer=dict(type='SGD', lr=0.1)))
    fp32 = PlainOptimizer([param], dict(optimizer=dict(type='SGD', lr=0.1)))
    for opt, dtype in ((bf16, torch.bfloat16), (fp32, torch.float32)):
        with opt.optim_context(None):
            assert (param @ param).dtype == dtype
