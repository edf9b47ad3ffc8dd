"""The MMEngine overhead of a data-free iteration: the Runner against a plain PyTorch loop, interleaved.

:func:`benchmark_overhead` runs the distillation config through MMEngine's
Runner (its train loop, hooks, dataloader, ``OptimWrapperDict`` and the
distiller's ``train_step``) and, after each Runner iteration, one iteration of
:class:`PlainDistillStep` on a copy of the distiller: the same
:meth:`~mmdfkd.models.DataFreeDistiller.run_iteration`, with plain
``torch.optim`` optimizers instead of MMEngine's wrappers and no Runner. The
difference is the framework's cost alone.
"""
import copy
import statistics
import time
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional

import torch
from mmengine.config import Config, ConfigDict
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from torch import Tensor, nn

from mmdfkd.models.distiller import DISTILLER_TYPES

from .latency import num_threads


class PlainOptimizer:
    """A ``torch.optim`` optimizer with the three methods the distiller's phases call on a wrapper.

    ``update_params(loss)``: zero the gradients, back-propagate, clip (when
    ``max_norm`` is set) and step; ``optim_context(module)``: nothing, or bf16
    autocast for an entry of ``type='CPUBF16OptimWrapper'`` (what ``--amp``
    and ``amp='auto'`` give on a bf16 CPU); ``zero_grad()``. ``optimizer`` is
    the ``torch.optim`` object.

    Args:
        params: the parameters to optimise.
        cfg (dict): an ``optim_wrapper`` entry of the config: ``optimizer``
            (a ``torch.optim`` type and its arguments) and optional
            ``clip_grad=dict(max_norm=...)`` and ``type``.
    """

    def __init__(self, params, cfg: dict) -> None:
        wrapper = cfg.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'CPUBF16OptimWrapper'):
            raise ValueError(f'The plain loop runs fp32 or CPU bf16 (CPUBF16OptimWrapper) steps, not {wrapper!r}; '
                             'time this config without --amp / amp=, or on a CPU.')
        self.bf16 = wrapper == 'CPUBF16OptimWrapper'
        optimizer = dict(cfg['optimizer'])
        kind = optimizer.pop('type')
        if not hasattr(torch.optim, kind):
            raise ValueError(f'{kind!r} is not a torch.optim optimizer; the plain loop uses torch.optim only.')
        self.optimizer = getattr(torch.optim, kind)(list(params), **optimizer)
        self.max_norm = (cfg.get('clip_grad') or {}).get('max_norm')

    def optim_context(self, module: nn.Module):
        return torch.autocast('cpu', dtype=torch.bfloat16) if self.bf16 else nullcontext()

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def update_params(self, loss: Tensor) -> None:
        self.optimizer.zero_grad()
        loss.backward()
        if self.max_norm is not None:
            params = [p for group in self.optimizer.param_groups for p in group['params']]
            torch.nn.utils.clip_grad_norm_(params, self.max_norm)
        self.optimizer.step()


class PlainDistillStep:
    """One data-free distillation iteration in plain PyTorch, for comparison with the Runner.

    Calls the distiller's own :meth:`~mmdfkd.models.DataFreeDistiller.run_iteration`
    with :class:`PlainOptimizer` wrappers, so it runs exactly the code
    ``train_step`` runs, without MMEngine.

    Args:
        model (DataFreeDistiller): a distiller of its own (not the Runner's).
        optim_cfg (dict): the config's ``optim_wrapper`` (``generator`` and
            ``student`` entries with ``optimizer`` and optional ``clip_grad``).
    """

    def __init__(self, model: nn.Module, optim_cfg: dict) -> None:
        self.model = model
        self.opt_G = PlainOptimizer(model.generator.parameters(), optim_cfg['generator'])
        student_params = list(model.student.parameters()) + list(model.connectors.parameters())
        self.opt_S = PlainOptimizer(student_params, optim_cfg['student'])

    def __call__(self, batch_size: int) -> Dict[str, Tensor]:
        return self.model.run_iteration(batch_size, self.opt_G, self.opt_S)


class _InterleavedTimer(Hook):
    """Times each Runner iteration and runs one plain-PyTorch step right after it.

    The Runner's time of an iteration runs from the end of the previous plain
    step to the start of the next one: the loop, the dataloader, every hook
    and ``train_step``. It runs last among the ``after_train_iter`` hooks.
    """

    priority = 'LOWEST'

    def __init__(self, plain_factory: Callable, batch_size: int) -> None:
        self.plain_factory = plain_factory
        self.batch_size = batch_size
        self.plain: Optional[PlainDistillStep] = None
        self.runner_s: List[float] = []
        self.plain_s: List[float] = []
        self._mark: Optional[float] = None

    def before_train(self, runner) -> None:
        self.plain = self.plain_factory(runner)
        self._mark = time.perf_counter()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        now = time.perf_counter()
        self.runner_s.append(now - self._mark)
        start = time.perf_counter()
        self.plain(self.batch_size)
        self.plain_s.append(time.perf_counter() - start)
        self._mark = time.perf_counter()


def overhead_config(cfg: Config, steps: int, work_dir: str) -> Config:
    """The distillation config trimmed for timing: ``steps`` iterations, no validation, no checkpoints.

    Warm-ups are switched off (``generator_warmup_iters``, ``adv_warmup_iters``)
    so that every timed iteration is a full one: generator and student phases,
    adversarial priors included.
    """
    cfg = copy.deepcopy(cfg)
    for key in ('generator_warmup_iters', 'adv_warmup_iters'):
        if key in cfg.model:
            cfg.model[key] = 0
    cfg.work_dir = work_dir
    cfg.train_cfg = ConfigDict(type='IterBasedTrainLoop', max_iters=steps, val_interval=steps + 1)
    for key in ('val_cfg', 'val_dataloader', 'val_evaluator', 'test_cfg', 'test_dataloader', 'test_evaluator'):
        cfg[key] = None
    hooks = cfg.get('default_hooks') or ConfigDict()
    hooks['checkpoint'] = None
    cfg.default_hooks = hooks
    cfg.model_wrapper_cfg = None
    cfg.launcher = 'none'
    return cfg


def benchmark_overhead(cfg: Config, steps: int = 10, warmup: int = 2, threads: Optional[int] = 1,
                       work_dir: str = 'work_dirs/overhead') -> Dict[str, object]:
    """Runner iteration vs the same iteration in plain PyTorch, interleaved.

    Builds the Runner of ``cfg`` (trimmed by :func:`overhead_config`) and a
    second distiller with the Runner model's weights; after each Runner
    iteration, one plain step (:class:`PlainDistillStep`) runs on the second
    distiller. The first ``warmup`` pairs are not counted.

    Returns:
        dict: ``runner_ms`` and ``plain_ms`` (medians), ``ratio``
        (runner / plain; 1.10 means 10 % overhead), ``runner_times_ms``,
        ``plain_times_ms``, ``steps``, ``warmup``, ``threads``, ``batch_size``.
    """
    from mmdfkd.engine.launch import build_runner
    from mmdfkd.registry import MODELS
    if (cfg.get('model') or {}).get('type') not in DISTILLER_TYPES:
        raise ValueError('benchmark_overhead times a DataFreeDistiller config (configs/dfkd_*.py).')
    total = steps + warmup
    run_cfg = overhead_config(cfg, total, work_dir)
    batch_size = run_cfg.train_dataloader.batch_size

    def plain_factory(runner) -> PlainDistillStep:
        init_default_scope(cfg.get('default_scope', 'mmdfkd'))
        model = MODELS.build(copy.deepcopy(run_cfg.model))
        model.load_state_dict(runner.model.state_dict(), strict=False)
        model.train()
        return PlainDistillStep(model, run_cfg.optim_wrapper)

    timer = _InterleavedTimer(plain_factory, batch_size)
    with num_threads(threads) as used:
        runner = build_runner(run_cfg)
        runner.register_hook(timer)
        runner.train()
    runner_ms = [t * 1e3 for t in timer.runner_s[warmup:]]
    plain_ms = [t * 1e3 for t in timer.plain_s[warmup:]]
    runner_med, plain_med = statistics.median(runner_ms), statistics.median(plain_ms)
    return dict(runner_ms=runner_med, plain_ms=plain_med, ratio=runner_med / plain_med,
                runner_times_ms=runner_ms, plain_times_ms=plain_ms, steps=steps, warmup=warmup, threads=used,
                batch_size=batch_size)

