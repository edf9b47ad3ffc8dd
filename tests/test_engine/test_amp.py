"""--amp on a CPU: bf16 autocast where the CPU has native bf16, a clear refusal where it has not."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdfkd.engine.amp as amp
from mmdfkd.engine.launch import apply_config_amp, enable_amp
from mmdfkd.engine.optim import DataFreeOptimWrapperConstructor
from mmdfkd.models.tasks import DetectionTask
from mmdfkd.registry import MODELS
from mmdfkd.testing import changed, det_distiller_cfg, snapshot, tiny_fcos

init_default_scope('mmdfkd')
needs_bf16 = pytest.mark.skipif(not amp.cpu_bf16_flags(), reason='this CPU has no native bf16 (avx512_bf16/amx_bf16)')


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\nprocessor\t: 1\nflags\t\t: fpu\n')
    assert amp.cpu_bf16_flags(str(info)) == {'avx512_bf16'}
    info.write_text('flags\t\t: fpu sse avx2\n')
    assert amp.cpu_bf16_flags(str(info)) == set()
    assert amp.cpu_bf16_flags(str(tmp_path / 'missing')) == set()


def test_a_cpu_without_bf16_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(amp, 'cpu_bf16_flags', lambda *args: set())
    cfg = Config(dict(optim_wrapper=dict(student=dict(optimizer=dict(type='AdamW')),
                                         generator=dict(optimizer=dict(type='Adam')))))
    with pytest.raises(RuntimeError, match='native bfloat16.*Drop --amp'):
        enable_amp(cfg)
    with pytest.raises(RuntimeError, match='native bfloat16'):
        amp.CPUBF16OptimWrapper(optimizer=torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1))


def test_enable_amp_on_a_bf16_cpu_picks_the_cpu_wrapper_for_every_part(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(amp, 'cpu_bf16_flags', lambda *args: {'avx512_bf16'})
    cfg = Config(dict(optim_wrapper=dict(constructor='DataFreeOptimWrapperConstructor',
                                         student=dict(optimizer=dict(type='AdamW')),
                                         generator=dict(optimizer=dict(type='Adam')))))
    enable_amp(cfg)
    assert cfg.optim_wrapper.student.type == cfg.optim_wrapper.generator.type == 'CPUBF16OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper.student


def _distiller_wrappers(**top):
    return Config(dict(optim_wrapper=dict(constructor='DataFreeOptimWrapperConstructor',
                                          student=dict(optimizer=dict(type='AdamW')),
                                          generator=dict(optimizer=dict(type='Adam'))), **top))


def test_config_amp_auto_uses_bf16_where_native_and_fp32_with_a_warning_elsewhere(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(amp, 'cpu_bf16_flags', lambda *args: {'avx512_bf16'})
    cfg = _distiller_wrappers(amp='auto')
    apply_config_amp(cfg)
    assert cfg.optim_wrapper.student.type == cfg.optim_wrapper.generator.type == 'CPUBF16OptimWrapper'
    monkeypatch.setattr(amp, 'cpu_bf16_flags', lambda *args: set())
    cfg = _distiller_wrappers(amp='auto')
    apply_config_amp(cfg)  # no error: the recipe still runs, in fp32
    assert 'type' not in cfg.optim_wrapper.student and 'type' not in cfg.optim_wrapper.generator
    with pytest.raises(RuntimeError, match='native bfloat16'):
        apply_config_amp(_distiller_wrappers(amp=True))  # asked for outright: refused, as --amp is
    apply_config_amp(unchanged := _distiller_wrappers())
    assert 'type' not in unchanged.optim_wrapper.student
    with pytest.raises(ValueError, match="'auto'"):
        apply_config_amp(_distiller_wrappers(amp='bf16'))


@needs_bf16
def test_bf16_teacher_outputs_stay_close_to_fp32():
    torch.manual_seed(0)
    teacher = MODELS.build(tiny_fcos()).eval()
    inputs = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        fp32 = DetectionTask().forward(teacher, inputs)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            bf16 = DetectionTask().forward(teacher, inputs)
    for level_fp32, level_bf16 in zip(fp32['head'][0], bf16['head'][0]):  # classification logits per level
        assert level_bf16.dtype == torch.bfloat16
        err = (level_bf16.float() - level_fp32).abs().max() / level_fp32.abs().max()
        assert err < 0.05, f'bf16 logits differ from fp32 by {err:.3f} of their range'


@needs_bf16
def test_a_distiller_step_under_the_cpu_wrapper_runs_in_bf16_and_trains(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(det_distiller_cfg(tmp_path, 'conv')).train()
    optim = DataFreeOptimWrapperConstructor(dict(
        generator=dict(type='CPUBF16OptimWrapper', optimizer=dict(type='Adam', lr=0.05)),
        student=dict(type='CPUBF16OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3))))(model)
    dtypes = []
    hook = model.teacher.backbone.blocks[0].mlp.fc1.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    teacher0, student0, generator0 = snapshot(model.teacher), snapshot(model.student), snapshot(model.generator)
    log = model.train_step(dict(index=[0, 1]), optim)
    hook.remove()
    assert dtypes and set(dtypes) == {torch.bfloat16}, 'every teacher forward inside the steps runs in bf16'
    assert all(torch.isfinite(v) for v in log.values())
    assert changed(generator0, model.generator) and changed(student0, model.student)
    assert not changed(teacher0, model.teacher)
    assert all(p.dtype == torch.float32 for p in model.student.parameters()), 'weights stay fp32'


@needs_bf16
def test_compare_bf16_times_both_precisions_and_measures_the_teacher_error(tmp_path):
    from mmdfkd.analysis.precision import compare_bf16
    from mmdfkd.testing import write_tiny_benchmark
    cfg = Config.fromfile(write_tiny_benchmark(tmp_path)['config'])
    result = compare_bf16(cfg, iters=1, warmup=0)
    assert result['fp32_s'] > 0 and result['bf16_s'] > 0
    assert result['ratio'] == pytest.approx(result['bf16_s'] / result['fp32_s'])
    assert set(result['teacher_rel_err']) == {'cls_scores', 'bbox_preds', 'centerness'}
    assert all(0 <= e < 0.1 for errs in result['teacher_rel_err'].values() for e in errs)
    assert 0 <= result['prob_abs_err'] < 0.05
