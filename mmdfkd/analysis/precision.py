"""bf16 against fp32 for a distillation config on this CPU: iteration time and the teacher's output error."""
import copy
import statistics
import time
from typing import Dict, Optional

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdfkd.models.distiller import DISTILLER_TYPES

from .latency import num_threads


def _wrappers(model, optim_cfg: dict, wrapper_type: str):
    from mmdfkd.engine.optim import DataFreeOptimWrapperConstructor
    cfg = copy.deepcopy(optim_cfg)
    cfg.pop('constructor', None)
    for part in ('generator', 'student'):
        cfg[part]['type'] = wrapper_type
    return DataFreeOptimWrapperConstructor(cfg)(model)


def compare_bf16(cfg: Config, iters: int = 3, warmup: int = 1, threads: Optional[int] = 1) -> Dict[str, object]:
    """Time ``train_step`` in fp32 and under :class:`~mmdfkd.engine.amp.CPUBF16OptimWrapper`, interleaved.

    Two copies of the config's distiller (the same initial weights, warm-ups
    switched off) take turns, each iteration seeded alike. Then the teacher
    runs on one synthetic batch in both precisions.

    Returns:
        dict: ``fp32_s`` / ``bf16_s`` (median seconds per iteration after
        ``warmup``), ``ratio`` (bf16 / fp32), ``teacher_rel_err``: per output
        name, per level, ``max |bf16 - fp32| / max |fp32|`` (detection) or of
        the logits (classification), ``prob_abs_err`` (largest difference of a
        class probability), ``threads``, ``batch_size``.
    """
    from mmdfkd.engine.amp import check_cpu_bf16
    from mmdfkd.registry import MODELS
    check_cpu_bf16()
    if (cfg.get('model') or {}).get('type') not in DISTILLER_TYPES:
        raise ValueError('compare_bf16 times a DataFreeDistiller config (configs/dfkd_*.py).')
    init_default_scope(cfg.get('default_scope', 'mmdfkd'))
    cfg = copy.deepcopy(cfg)
    for key in ('generator_warmup_iters', 'adv_warmup_iters'):
        cfg.model[key] = 0
    batch_size = cfg.train_dataloader.batch_size
    with num_threads(threads) as used:
        torch.manual_seed(0)
        fp32 = MODELS.build(cfg.model).train()
        bf16 = copy.deepcopy(fp32)
        runs = {'fp32': (fp32, _wrappers(fp32, cfg.optim_wrapper.to_dict(), 'OptimWrapper')),
                'bf16': (bf16, _wrappers(bf16, cfg.optim_wrapper.to_dict(), 'CPUBF16OptimWrapper'))}
        times = {name: [] for name in runs}
        for it in range(warmup + iters):
            for name, (model, wrappers) in runs.items():
                torch.manual_seed(1000 + it)
                start = time.perf_counter()
                model.train_step(dict(index=list(range(batch_size))), wrappers)
                times[name].append(time.perf_counter() - start)
            print(f'[bf16] iteration {it + 1}/{warmup + iters}: fp32 {times["fp32"][-1]:.2f} s, '
                  f'bf16 {times["bf16"][-1]:.2f} s', flush=True)
        with torch.no_grad():
            torch.manual_seed(1)
            pixels = fp32.synthesise(batch_size, fp32.sample_layout(batch_size, torch.device('cpu')), remember=False)
            out32 = fp32.run_model(fp32.teacher, fp32.teacher_recorder, pixels)
            with torch.autocast('cpu', dtype=torch.bfloat16):
                out16 = fp32.run_model(fp32.teacher, fp32.teacher_recorder, pixels)
    fp32_s, bf16_s = (statistics.median(times[k][warmup:]) for k in ('fp32', 'bf16'))
    errors, prob_err = _output_errors(fp32.task.name, out32, out16)
    return dict(fp32_s=fp32_s, bf16_s=bf16_s, ratio=bf16_s / fp32_s, teacher_rel_err=errors, prob_abs_err=prob_err,
                threads=used, batch_size=batch_size, iters=iters, warmup=warmup)


def _output_errors(task: str, out32: dict, out16: dict):
    def rel(a, b) -> float:
        return float((b.float() - a).abs().max() / a.abs().max().clamp(min=1e-12))
    if task == 'cls':
        logits32, logits16 = out32['logits'], out16['logits'].float()
        return {'logits': [rel(logits32, logits16)]}, float((logits32.softmax(-1) - logits16.softmax(-1)).abs().max())
    names = ('cls_scores', 'bbox_preds', 'centerness')
    errors = {name: [rel(a, b) for a, b in zip(levels32, levels16)]
              for name, levels32, levels16 in zip(names, out32['head'], out16['head'])}
    probs32 = torch.cat([c.sigmoid().flatten() for c in out32['head'][0]])
    probs16 = torch.cat([c.float().sigmoid().flatten() for c in out16['head'][0]])
    return errors, float((probs32 - probs16).abs().max())
