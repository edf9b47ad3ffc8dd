"""CPU latency of teacher and student at the same input, timed interleaved (T, S, T, S, ...)."""
import statistics
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence

import torch
from mmengine.config import Config
from torch import nn

from .complexity import build_teacher_student, complexity, input_size_of, tensor_forward


@contextmanager
def num_threads(threads: Optional[int]) -> Iterator[int]:
    """Fix torch's intra-op threads for the block (``None`` keeps the current number); yields it."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)



def compare_latency(models: Dict[str, nn.Module], input_size: Sequence[int], repeats: int = 30, warmup: int = 5,
                    threads: Optional[int] = 1, seed: int = 0) -> Dict[str, object]:
    """CPU latency of several models on the same input, timed interleaved.

    Each model runs ``warmup`` times, then the models take turns
    (``m1, m2, ..., m1, m2, ...``) ``repeats`` times each, so that load from
    other processes affects all of them alike. Batch 1, no gradients.

    Args:
        models (dict): name -> model (``mode='tensor'`` forward for MMEngine models).
        input_size (Sequence[int]): (H, W).
        repeats (int): timed runs per model.
        warmup (int): untimed runs per model first.
        threads (int, optional): torch intra-op threads during the timing;
            ``None`` keeps the current setting.
        seed (int): seed of the random input.

    Returns:
        dict: per model ``{'median_ms', 'min_ms', 'max_ms', 'times_ms'}``,
        plus ``threads``, ``repeats``, ``warmup``, ``input_size``.
    """
    if repeats < 1:
        raise ValueError(f'repeats must be >= 1, got {repeats}.')
    inputs = torch.randn(1, 3, *input_size, generator=torch.Generator().manual_seed(seed))
    calls = {name: tensor_forward(model) for name, model in models.items()}
    states = {name: model.training for name, model in models.items()}
    times: Dict[str, List[float]] = {name: [] for name in models}
    for model in models.values():
        model.eval()
    try:
        with num_threads(threads) as used, torch.no_grad():
            for call in calls.values():
                for _ in range(warmup):
                    call(inputs)
            for _ in range(repeats):
                for name, call in calls.items():
                    start = time.perf_counter()
                    call(inputs)
                    times[name].append((time.perf_counter() - start) * 1e3)
    finally:
        for name, model in models.items():
            model.train(states[name])
    result: Dict[str, object] = dict(threads=used, repeats=repeats, warmup=warmup, input_size=list(input_size))
    for name, values in times.items():
        result[name] = dict(median_ms=statistics.median(values), min_ms=min(values), max_ms=max(values),
                            times_ms=values)
    return result


def latency_report(cfg: Config, repeats: int = 30, warmup: int = 5, threads: Optional[int] = 1,
                   input_size: Optional[Sequence[int]] = None) -> Dict[str, object]:
    """Teacher vs student of a distillation config: params, FLOPs, CPU latency and ratios.

    Returns:
        dict: ``teacher`` and ``student`` (``params``, ``flops``,
        ``latency_ms`` median), ``latency_ratio`` (student / teacher median),
        ``params_ratio``, ``flops_ratio``, ``threads``, ``repeats``,
        ``warmup``, ``input_size``.
    """
    teacher, student = build_teacher_student(cfg)
    size = tuple(input_size) if input_size else input_size_of(cfg)
    lat = compare_latency(dict(teacher=teacher, student=student), size, repeats, warmup, threads)
    report: Dict[str, object] = {k: lat[k] for k in ('threads', 'repeats', 'warmup', 'input_size')}
    for name, model in (('teacher', teacher), ('student', student)):
        report[name] = dict(complexity(model, size), latency_ms=lat[name]['median_ms'],
                            latency_min_ms=lat[name]['min_ms'])
    report['latency_ratio'] = report['student']['latency_ms'] / report['teacher']['latency_ms']
    report['params_ratio'] = report['student']['params'] / report['teacher']['params']
    report['flops_ratio'] = report['student']['flops'] / max(report['teacher']['flops'], 1)
    return report

