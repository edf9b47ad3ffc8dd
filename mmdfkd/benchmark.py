"""Cost measurements: parameters, FLOPs, CPU latency, and the MMEngine overhead of a distillation step.

* :func:`complexity`: parameters and FLOPs of a model at one input size
  (``mmengine.analysis``), batch 1.
* :func:`compare_latency`: teacher and student CPU latency at the same input,
  timed interleaved (T, S, T, S, ...) after a warm-up, medians and their ratio.
* :func:`benchmark_overhead`: one data-free distillation iteration through
  MMEngine's Runner (its train loop, hooks, dataloader and the distiller's
  ``train_step`` with an ``OptimWrapperDict``) against the same work written
  as a plain PyTorch loop (:class:`PlainDistillStep`: the same modules and
  losses, plain ``torch.optim`` optimizers), interleaved in one process.

Latency and FLOPs are of the network alone (``model(inputs, mode='tensor')``:
normalised images to raw head outputs or logits), without the data
preprocessor and, for detectors, without box decoding and NMS.
"""
import copy
import os.path as osp
import statistics
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, ConfigDict
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from torch import Tensor, nn

DISTILLER_TYPES = ('DataFreeDistiller', 'mmdfkd.DataFreeDistiller')


# ------------------------------------------------------------------ helpers
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


def _forward(model: nn.Module) -> Callable[[Tensor], object]:
    """``model(x, mode='tensor')`` for MMEngine models, ``model(x)`` for anything else."""
    from mmengine.model import BaseModel
    if isinstance(model, BaseModel):
        return lambda x: model(x, mode='tensor')
    return model


def input_size_of(cfg: Config) -> Tuple[int, int]:
    """``(H, W)`` the models of a distillation config run at: its generator's ``img_size``."""
    size = (cfg.get('model') or {}).get('generator', {}).get('img_size')
    if size is None:
        raise ValueError('No model.generator.img_size in the config; pass the input size explicitly.')
    return (size, size) if isinstance(size, int) else tuple(size)


def build_teacher_student(cfg: Config) -> Tuple[nn.Module, nn.Module]:
    """The teacher and the student of a distillation config, in eval mode.

    The teacher is loaded from its checkpoint when the file exists (its weights
    do not change its cost), otherwise randomly initialised.
    """
    from mmdfkd.registry import MODELS
    model_cfg = cfg.get('model') or {}
    if model_cfg.get('type') not in DISTILLER_TYPES:
        raise ValueError(f'Expected a DataFreeDistiller config (configs/dfkd_*.py), got model type '
                         f'{model_cfg.get("type")!r}.')
    init_default_scope(cfg.get('default_scope', 'mmdfkd'))
    teacher_cfg = dict(model_cfg['teacher'])
    if teacher_cfg.get('config') is not None:
        sub = Config.fromfile(teacher_cfg['config'])
        if teacher_cfg.get('cfg_options'):
            sub.merge_from_dict(dict(teacher_cfg['cfg_options']))
        teacher = MODELS.build(sub.model)
    else:
        teacher = MODELS.build(ConfigDict(teacher_cfg['model']))
    checkpoint = teacher_cfg.get('checkpoint')
    if checkpoint and osp.isfile(checkpoint):
        from mmdfkd.models.distiller import DataFreeDistiller
        DataFreeDistiller._load_teacher_weights(teacher, checkpoint, teacher_cfg.get('config'))
    student = MODELS.build(ConfigDict(model_cfg['student']))
    return teacher.eval(), student.eval()


# --------------------------------------------------------- params and FLOPs
def complexity(model: nn.Module, input_size: Sequence[int]) -> Dict[str, object]:
    """Parameters and FLOPs of ``model`` on one ``(3, H, W)`` image.

    FLOPs are counted by ``mmengine.analysis`` (fvcore's counting: one
    multiply-add is one FLOP) over ``model(x, mode='tensor')``.

    Returns:
        dict: ``params`` (int), ``flops`` (int), ``input_size`` [H, W].
    """
    from mmengine.analysis import FlopAnalyzer
    params = sum(p.numel() for p in model.parameters())
    inputs = torch.zeros(1, 3, *input_size)

    class _Tensor(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner
            self.call = _forward(inner)

        def forward(self, x: Tensor):
            return self.call(x)

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analyzer = FlopAnalyzer(_Tensor(model), (inputs, ))
            analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            flops = int(analyzer.total())
    finally:
        model.train(was_training)
    return dict(params=params, flops=flops, input_size=list(input_size))


# ----------------------------------------------------------------- latency
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
    calls = {name: _forward(model) for name, model in models.items()}
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


# ---------------------------------------------------------------- overhead
class PlainDistillStep:
    """One data-free distillation iteration in plain PyTorch, for comparison with the Runner.

    Does what ``DataFreeDistiller.train_step`` does, written out without
    MMEngine: the distiller's modules (generator, priors, augmentation,
    recorders, losses, connectors, memory) are used as building blocks, the
    loop and the optimisation are plain ``torch.optim`` (Adam / AdamW, with
    ``clip_grad_norm_`` when the config clips). Supports the generator-phase
    priors (adversarial ones included), refinement from the memory
    (``refine_ratio``), replay, fresh student batches, distillation losses with
    connectors, pseudo labels and the generator warm-up.

    Args:
        model (DataFreeDistiller): a distiller of its own (not the Runner's).
        optim_cfg (dict): the config's ``optim_wrapper`` (``generator`` and
            ``student`` entries with ``optimizer`` and optional ``clip_grad``).
    """

    def __init__(self, model: nn.Module, optim_cfg: dict) -> None:
        self.model = model
        self.opt_G, self.clip_G = self._optimizer(model.generator.parameters(), optim_cfg['generator'])
        student_params = list(model.student.parameters()) + list(model.connectors.parameters())
        self.opt_S, self.clip_S = self._optimizer(student_params, optim_cfg['student'])

    @staticmethod
    def _optimizer(params, cfg: dict) -> Tuple[torch.optim.Optimizer, Optional[float]]:
        optimizer = dict(cfg['optimizer'])
        kind = optimizer.pop('type')
        if not hasattr(torch.optim, kind):
            raise ValueError(f'{kind!r} is not a torch.optim optimizer; the plain loop uses torch.optim only.')
        clip = cfg.get('clip_grad') or {}
        return getattr(torch.optim, kind)(list(params), **optimizer), clip.get('max_norm')

    @staticmethod
    def _run(model: nn.Module, task, recorder, pixels: Tensor) -> dict:
        from mmdfkd.models.tasks import normalizer_of
        mean, std = normalizer_of(model)
        inputs = (pixels - mean.to(pixels)) / std.to(pixels)
        with recorder:
            out = task.forward(model, inputs)
        out.update(recorder.taps)
        out['_inputs'] = inputs
        return out

    def _update(self, optimizer, params_clip, loss: Tensor) -> None:
        optimizer.zero_grad()
        loss.backward()
        if params_clip is not None:
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g['params']], params_clip)
        optimizer.step()

    def __call__(self, batch_size: int) -> Dict[str, Tensor]:
        from mmdfkd.models.priors.base import SynthesisContext
        m = self.model
        device = next(m.student.parameters()).device
        layout = m._sample_layout(batch_size, device)
        if m.generator.reinit_per_batch:
            m.generator.reset()
            self.opt_G.state.clear()
            k = min(int(round(m.refine_ratio * batch_size)), len(m.memory))
            if k:
                remembered_pixels, remembered = m.memory.sample(k, device)
                m.generator.load_pixels(remembered_pixels)
                if layout is not None and remembered is not None:
                    layout = list(remembered) + list(layout[k:])
        # generator phase
        adversarial_on = int(m._iter) >= m.adv_warmup_iters
        priors = {k: p for k, p in m.priors.items() if adversarial_on or not m._is_adversarial(p)}
        need_student = any(m._is_adversarial(p) for p in priors.values())
        log: Dict[str, Tensor] = {}
        for _ in range(m.generator_steps):
            pixels = m.generator(batch_size, layout)
            aug, aug_layout = m.augment(pixels, layout) if m.augment else (pixels, layout)
            out_T = self._run(m.teacher, m.task, m.teacher_recorder, aug)
            out_S = self._run(m.student, m.task, m.student_recorder, aug) if need_student else {}
            ctx = SynthesisContext(images=out_T['_inputs'], pixels=pixels, taps_T=out_T, taps_S=out_S,
                                   teacher=m.teacher, layout=aug_layout,
                                   data_samples=m.task.data_samples(aug, aug_layout))
            loss = sum(prior(ctx) for prior in priors.values())
            self._update(self.opt_G, self.clip_G, loss)
            log['G.loss'] = loss.detach()
        if need_student:
            m.student.zero_grad(set_to_none=True)
        with torch.no_grad():
            pixels = m.generator(batch_size, layout).detach()
        m.memory.push(pixels, layout)
        # student phase (none during the distiller's generator warm-up)
        student_steps = m.student_steps if int(m._iter) >= getattr(m, 'generator_warmup_iters', 0) else 0
        for step in range(student_steps):
            if m.fresh_student_batches and step > 0:
                batch_layout = m._sample_layout(batch_size, device)
                with torch.no_grad():
                    batch = m.generator(batch_size, batch_layout)
            elif len(m.memory):
                batch, batch_layout = m.memory.sample(batch_size, device)
            else:
                batch, batch_layout = pixels, layout
            if m.augment:
                batch, batch_layout = m.augment(batch, batch_layout)
            with torch.no_grad():
                out_T = self._run(m.teacher, m.task, m.teacher_recorder, batch)
            out_S = self._run(m.student, m.task, m.student_recorder, batch)
            loss = 0
            for name, loss_fn in m.distill_losses.items():
                tap_S, tap_T = m.loss_taps[name]
                preds_S, preds_T = out_S[tap_S], out_T[tap_T]
                if tap_S in m.connectors:
                    preds_S = m.connectors[tap_S](preds_S, preds_T)
                loss = loss + loss_fn(preds_S, preds_T)
            if m.pseudo_label is not None:
                with torch.no_grad():
                    results = m.task.predict(m.teacher, out_T, out_T['_inputs'])
                targets = m.pseudo_label.make_targets(results)
                loss = loss + m.pseudo_label(m.student.loss(out_S['_inputs'], targets))
            self._update(self.opt_S, self.clip_S, loss)
            log['S.loss'] = loss.detach()
        m._iter += 1
        return log


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


# ------------------------------------------------------- generator comparison
def with_train_timer(cfg: Config, val_interval: int, budget_s: Optional[float]) -> Config:
    """A copy of a distillation config that logs training time with every validation.

    Adds a :class:`~mmdfkd.engine.TrainTimeHook` (stopping at ``budget_s``
    seconds of training, if given), validates every ``val_interval``
    iterations and logs validations by iteration.
    """
    if val_interval < 1:
        raise ValueError(f'val_interval must be >= 1 iteration, got {val_interval}.')
    cfg = copy.deepcopy(cfg)
    hooks = [h for h in (cfg.get('custom_hooks') or []) if h.get('type') != 'TrainTimeHook']
    cfg.custom_hooks = hooks + [dict(type='TrainTimeHook', budget_s=budget_s)]
    cfg.train_cfg.val_interval = val_interval
    cfg.default_hooks.setdefault('logger', dict(type='LoggerHook'))
    cfg.default_hooks.logger.log_metric_by_epoch = False
    return cfg


def timed_curve(records: Sequence[dict], metric: str) -> List[dict]:
    """The validations of a run logged by ``TrainTimeHook``.

    Args:
        records: the entries of a run's ``scalars.json``.
        metric: the metric key, e.g. ``'coco/bbox_mAP'``.

    Returns:
        list[dict]: ``{'iter', 'train_s', 'metric', 'synthetic_images'}`` per
        validation, in order (``synthetic_images`` is ``None`` when the model
        keeps no count).
    """
    return [dict(iter=int(r['iter']), train_s=float(r['train_s']), metric=float(r[metric]),
                 synthetic_images=r.get('synthetic_images'))
            for r in records if 'train_s' in r and metric in r]


def time_to_target(curve: Sequence[dict], target: float) -> Optional[float]:
    """Training seconds at the first validation whose metric is >= ``target``; ``None`` if none is."""
    for point in curve:
        if point['metric'] >= target:
            return point['train_s']
    return None


def images_per_second(curve: Sequence[dict]) -> Optional[float]:
    """Synthetic images drawn per second of training, over the whole run (last validation)."""
    if not curve or curve[-1]['synthetic_images'] is None or curve[-1]['train_s'] <= 0:
        return None
    return curve[-1]['synthetic_images'] / curve[-1]['train_s']


def teacher_score(config: str, work_dir: str, metric: str) -> float:
    """Score a distillation config's teacher on the split its student is validated on.

    Args:
        config (str): a data-free distillation config whose ``model.teacher``
            names a ``config`` and a ``checkpoint``.
        work_dir (str): the test run's work dir.
        metric (str): the key to return, e.g. ``'coco/bbox_mAP'``.
    """
    from mmengine.runner import Runner

    import mmdfkd  # noqa: F401  (registries, checkpoint allow-list)
    cfg = Config.fromfile(config)
    teacher = cfg.model.teacher
    if 'config' not in teacher:
        raise ValueError(f'{config}: the teacher is scored from teacher.config, and this one has none.')
    teacher_cfg = Config.fromfile(teacher.config)
    teacher_cfg.load_from = teacher.checkpoint
    teacher_cfg.work_dir = work_dir
    teacher_cfg.test_dataloader = cfg.val_dataloader  # the split the student is scored on
    teacher_cfg.test_evaluator = cfg.val_evaluator
    return float(Runner.from_cfg(teacher_cfg).test()[metric])
