"""Where the time of a data-free run goes: :class:`PhaseTimer` and :func:`cost_breakdown`.

:func:`cost_breakdown` builds the distiller of a config, runs its own
:meth:`~mmdfkd.models.DataFreeDistiller.run_iteration` with the
:class:`~mmdfkd.analysis.overhead.PlainOptimizer` wrappers of
:class:`~mmdfkd.analysis.overhead.PlainDistillStep` (so it times the real
iteration, without the Runner), and splits each iteration's wall time into
phases with a :class:`PhaseTimer`. It also times one validation pass and one
checkpoint save, counts every model's FLOPs per iteration, and compares each
phase's achieved GFLOP/s with this machine's fp32 matmul peak measured in the
same process (the roofline).

FLOP convention: ``mmengine.analysis.FlopAnalyzer`` counts one multiply-add as
one FLOP; here every count is doubled (a multiply-add is 2 FLOPs), as is the
peak ``2 n^3 / t`` of an ``n x n`` matmul, so the two compare like with like.
A model's forward FLOPs per image are those of ``model(x, mode='tensor')``
(:func:`~mmdfkd.analysis.complexity.complexity`), times the images each phase
feeds it. Each image whose gradient reaches a network's entry in a backward
pass (a tensor hook on the entry's output, so a forward whose output no loss
reads adds none) adds a backward, charged to the phase that called
``backward``: 2x its forward FLOPs for a network with trainable parameters
(input and weight gradients, the usual convention), 1x for a frozen one (the
teacher: autograd computes the input gradients only). Box decoding, NMS,
losses, optimizer
updates and fused attention (``scaled_dot_product_attention``, which the
analyzer does not count) add no FLOPs here.
"""
import copy
import functools
import os.path as osp
import tempfile
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import Tensor, nn

from mmdfkd.models.distiller import DISTILLER_TYPES

from .complexity import complexity
from .latency import num_threads
from .overhead import PlainDistillStep, overhead_config

#: the phases of an iteration, in table order; their exclusive times sum to the iteration's
ITERATION_PHASES = ('synthesis', 'generator_step', 'teacher_student', 'student', 'pseudo_labels', 'optimizer',
                    'other')
#: what a run does every so many iterations, timed once each
EVENT_PHASES = ('validation', 'checkpoint')
PHASE_TITLES = {
    'synthesis': 'synthesis (generator forward, generator step and fresh batches)',
    'generator_step': 'generator step: teacher forward + priors + backward to the images',
    'teacher_student': 'teacher forward in the student steps',
    'student': 'student forward + losses + backward',
    'pseudo_labels': "pseudo-label decoding (teacher's task.predict, targets)",
    'optimizer': 'optimizer steps (generator and student)',
    'other': 'other (layouts, augmentation, memory, loss sums, checks)',
    'validation': 'validation',
    'checkpoint': 'checkpoint save',
}
#: the distiller's networks that FLOPs are counted for
MODELS_COUNTED = ('generator', 'teacher', 'student')

# kind of a timed region -> its phase in a student step (the generator step takes all but two, see _phase)
_STUDENT_STEP_PHASES = dict(teacher='teacher_student', predict='pseudo_labels', student='student', loss='student',
                            backward='student')


class PhaseTimer:
    """Exclusive (self) time per phase of a distiller's iterations, and the images each network processes.

    While entered, it wraps, for the duration only:

    * forward pre/post hooks on the ``generator``, on ``teacher`` and
      ``student`` and each of their direct children (a detector runs
      ``extract_feat`` and its head, never its own ``forward``), on every
      prior, distillation loss, connector and the pseudo-label loss;
    * ``student.loss`` (the pseudo-label loss's own student forward),
      ``task.predict`` and ``pseudo_label.make_targets``;
    * each optimizer wrapper's ``update_params`` (its time minus the nested
      step is the backward, charged to the phase that called it) and its
      ``optimizer.step``;
    * the distiller's ``generator_step`` and ``student_step``, which set the
      stage that decides the phase of a teacher or student forward;
    * a forward hook at each network's entry (the generator, the teacher's and
      the student's backbone) that counts its images, and a tensor hook on
      its output that counts them again when a backward pass reaches them.

    Each wrapped call is a *region*. Time is charged to the phase of the
    innermost open region, so nested regions are never counted twice, and the
    phases of a :meth:`measure` block sum to its wall time; time in no region
    is ``'other'``. Outside :meth:`measure` the wrappers record nothing.

    Phases: ``'synthesis'`` (generator forwards), ``'optimizer'`` (optimizer
    steps), and, in the generator step, everything else:
    ``'generator_step'``; in the student steps teacher forwards are
    ``'teacher_student'``, decoding ``'pseudo_labels'``, and student
    forwards, losses and backward ``'student'``. A :meth:`measure` block of
    an event stage (``'validation'``, ``'checkpoint'``) charges all its time
    to that stage.

    Args:
        model (DataFreeDistiller): the distiller to time.
        wrappers (dict): ``'generator'`` and ``'student'`` optimizer wrappers
            (:class:`~mmdfkd.analysis.overhead.PlainOptimizer` or MMEngine
            ``OptimWrapper``: ``update_params`` and ``optimizer.step``).

    Attributes:
        seconds (dict): phase -> exclusive seconds over all measured blocks.
        forward_images (dict): ``(network, phase, (H, W))`` -> images the
            network's forwards in that phase processed.
        backward_images (dict): the same for the backward passes that reached
            the network, by the phase that called ``backward``.
        backward_factor (dict): network -> backward FLOPs per forward FLOP:
            2 with trainable parameters, 1 for a frozen network.
        pseudo_boxes (int): boxes in the pseudo labels made.
        pseudo_images (int): images pseudo-labelled.
    """

    def __init__(self, model: nn.Module, wrappers: Dict[str, object]) -> None:
        missing = {'generator', 'student'} - set(wrappers)
        if missing:
            raise KeyError(f'PhaseTimer needs optimizer wrappers for {sorted(missing)}.')
        self.model = model
        self.wrappers = wrappers
        self.seconds: Dict[str, float] = {}
        self.forward_images: Dict[Tuple[str, str, Tuple[int, int]], int] = {}
        self.backward_images: Dict[Tuple[str, str, Tuple[int, int]], int] = {}
        self.backward_factor: Dict[str, int] = {}
        self.pseudo_boxes = 0
        self.pseudo_images = 0
        self._stack: List[str] = []  # phases of the open regions; empty outside measure()
        self._stage: Optional[str] = None
        self._mark = 0.0
        self._handles: list = []
        self._patches: list = []

    # ------------------------------------------------------------ accounting
    def _phase(self, kind: str) -> str:
        if self._stage in EVENT_PHASES:
            return self._stage
        if kind == 'root':
            return 'other'
        if kind == 'generator':
            return 'synthesis'
        if kind == 'optimizer':
            return 'optimizer'
        if self._stage == 'generator_step':
            return 'generator_step'
        return _STUDENT_STEP_PHASES[kind]

    def _charge(self) -> None:
        now = time.perf_counter()
        phase = self._stack[-1]
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._mark
        self._mark = now

    def _push(self, kind: str) -> None:
        if self._stack:
            self._charge()
            self._stack.append(self._phase(kind))

    def _pop(self) -> None:
        if len(self._stack) > 1:
            self._charge()
            self._stack.pop()

    @contextmanager
    def _region(self, kind: str) -> Iterator[None]:
        self._push(kind)
        try:
            yield
        finally:
            self._pop()

    @contextmanager
    def _in_stage(self, stage: str) -> Iterator[None]:
        before, self._stage = self._stage, stage
        try:
            yield
        finally:
            self._stage = before

    @contextmanager
    def measure(self, stage: Optional[str] = None) -> Iterator[None]:
        """Time the block; with an event ``stage`` (``'validation'``, ``'checkpoint'``) all of it is that phase."""
        if self._stack:
            raise RuntimeError('PhaseTimer.measure() blocks cannot be nested.')
        if stage is not None and stage not in EVENT_PHASES:
            raise ValueError(f'stage must be None or one of {EVENT_PHASES}, got {stage!r}.')
        self._stage = stage
        self._mark = time.perf_counter()
        self._stack = [self._phase('root')]
        try:
            yield
        finally:
            self._charge()
            self._stack = []
            self._stage = None

    def _count_backward(self, name: str, images: int, size: Tuple[int, int]) -> None:
        if self._stack:  # the phase of the region that called backward
            key = (name, self._stack[-1], size)
            self.backward_images[key] = self.backward_images.get(key, 0) + images

    # ------------------------------------------------------------- wrapping
    def _hook(self, module: nn.Module, kind: str) -> None:
        self._handles.append(module.register_forward_pre_hook(lambda mod, args: self._push(kind)))
        self._handles.append(module.register_forward_hook(lambda mod, args, out: self._pop(), always_call=True))

    def _patch(self, owner: object, name: str, context: Callable, after: Optional[Callable] = None) -> None:
        """Replace ``owner.name`` by a wrapper that runs the original inside ``context()``."""
        original = getattr(owner, name)
        own = vars(owner)
        self._patches.append((owner, name, name in own, own.get(name)))

        @functools.wraps(original)
        def wrapped(*args, **kwargs):
            with context():
                result = original(*args, **kwargs)
                if after is not None:
                    after(result)
                return result

        setattr(owner, name, wrapped)

    def _count_entry(self, name: str, network: nn.Module) -> None:
        """Count the images of ``network``'s forwards, and of the backward passes that reach them.

        At its entry (the backbone if any, else itself): the forward's first
        argument is the images (N, 3, H, W), or for the generator the batch
        size; a tensor hook on the first output tensor that requires gradients
        counts the images again when a backward pass reaches it.
        """
        self.backward_factor[name] = 2 if any(p.requires_grad for p in network.parameters()) else 1
        entry = network if name == 'generator' else getattr(network, 'backbone', network)

        def hook(mod, args, kwargs, output):
            if not self._stack:
                return
            first = args[0] if args else next(iter(kwargs.values()))
            if name == 'generator':
                images, size = int(first), tuple(network.img_size)
            else:
                images, size = int(first.shape[0]), tuple(int(v) for v in first.shape[-2:])
            key = (name, self._phase(name), size)
            self.forward_images[key] = self.forward_images.get(key, 0) + images
            outputs = output if isinstance(output, (tuple, list)) else (output, )
            grads = [t for t in outputs if isinstance(t, Tensor) and t.requires_grad]
            if grads:
                grads[0].register_hook(lambda grad: self._count_backward(name, images, size))

        self._handles.append(entry.register_forward_hook(hook, with_kwargs=True))

    def _count_pseudo_labels(self, targets: list) -> None:
        if self._stack:
            self.pseudo_images += len(targets)
            self.pseudo_boxes += sum(len(t.gt_instances) for t in targets)

    def __enter__(self) -> 'PhaseTimer':
        model = self.model
        self._hook(model.generator, 'generator')
        for name in ('teacher', 'student'):
            network = getattr(model, name)
            for module in (network, *network.children()):
                self._hook(module, name)
        for modules, kind in ((model.priors, 'prior'), (model.distill_losses, 'loss'), (model.connectors, 'loss')):
            for module in modules.values():
                self._hook(module, kind)
        for name in MODELS_COUNTED:
            self._count_entry(name, getattr(model, name))
        self._patch(model.student, 'loss', lambda: self._region('student'))
        self._patch(model.task, 'predict', lambda: self._region('predict'))
        if model.pseudo_label is not None:
            self._hook(model.pseudo_label, 'loss')
            self._patch(model.pseudo_label, 'make_targets', lambda: self._region('predict'),
                        after=self._count_pseudo_labels)
        self._patch(model, 'generator_step', lambda: self._in_stage('generator_step'))
        self._patch(model, 'student_step', lambda: self._in_stage('student_step'))
        for wrapper in self.wrappers.values():
            self._patch(wrapper, 'update_params', lambda: self._region('backward'))
            self._patch(wrapper.optimizer, 'step', lambda: self._region('optimizer'))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        for owner, name, had_own, before in reversed(self._patches):
            if had_own:
                setattr(owner, name, before)
            else:
                delattr(owner, name)
        self._handles, self._patches = [], []


# ------------------------------------------------------------------ measurements
def matmul_peak(size: int = 1024, repeats: int = 10) -> Dict[str, float]:
    """This machine's fp32 matmul throughput at torch's current thread count: the roofline's ceiling.

    Times ``torch.mm`` of two ``size x size`` fp32 matrices (after one
    untimed call) ``repeats`` times and keeps the fastest, so load from other
    processes lowers it as little as possible.

    Returns:
        dict: ``gflops`` (``2 size^3 / best`` in GFLOP/s), ``size``,
        ``best_s``, ``repeats``, ``threads``.
    """
    if size < 1 or repeats < 1:
        raise ValueError(f'size and repeats must be >= 1, got {size} and {repeats}.')
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=gen), torch.randn(size, size, generator=gen)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return dict(gflops=2 * size**3 / best / 1e9, size=size, best_s=best, repeats=repeats,
                threads=torch.get_num_threads())


def generator_flops(model: nn.Module, batch_size: int) -> int:
    """Forward FLOPs per image of the distiller's generator (multiply-adds, as ``FlopAnalyzer`` counts).

    Traces one ``generator(batch_size, layout)`` call on a layout from the
    distiller's sampler (``None`` without one).
    """
    from mmengine.analysis import FlopAnalyzer
    generator = model.generator
    layout = model.sample_layout(batch_size, next(model.student.parameters()).device)

    class _Draw(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.generator = generator

        def forward(self, unused: Tensor) -> Tensor:
            return self.generator(batch_size, layout)

    with torch.no_grad():
        analyzer = FlopAnalyzer(_Draw(), (torch.zeros(1), ))
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analyzer.total()) // batch_size


def _time_validation(model: nn.Module, cfg: Config, timer: PhaseTimer, max_batches: int,
                     log: Callable[[str], None]) -> Dict[str, object]:
    """One pass (or its first ``max_batches`` batches) of the config's val dataloader and evaluator."""
    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner
    if not cfg.get('val_dataloader') or not cfg.get('val_evaluator'):
        raise ValueError('The config has no val_dataloader / val_evaluator to time; pass --skip-val.')
    loader_cfg = copy.deepcopy(cfg.val_dataloader)
    loader_cfg.update(num_workers=0, persistent_workers=False)  # data loading is timed in this process
    try:
        loader = Runner.build_dataloader(loader_cfg)
    except FileNotFoundError as err:
        raise FileNotFoundError(f'The val data of the config is missing ({err}). Prepare it (for Digits-Det: '
                                'python tools/prepare_data.py digits-det) or pass --skip-val.') from err
    evaluator = Evaluator(cfg.val_evaluator)
    evaluator.dataset_meta = loader.dataset.metainfo
    total = len(loader)
    batches = total if max_batches <= 0 else min(max_batches, total)
    log(f'[cost] validation: {batches} of {total} val batches, then the evaluator')
    samples = 0
    model.eval()
    try:
        with timer.measure('validation'):
            start = time.perf_counter()
            for index, data in enumerate(loader):
                if index == batches:
                    break
                with torch.no_grad():
                    outputs = model.val_step(data)
                evaluator.process(outputs, data)
                samples += len(outputs)
            loop_s = time.perf_counter() - start
            evaluator.evaluate(samples)
            evaluate_s = time.perf_counter() - start - loop_s
    finally:
        model.train()
    return dict(batches=batches, total_batches=total, images=samples, loop_s=loop_s, evaluate_s=evaluate_s,
                measured_s=loop_s + evaluate_s, full_pass_s=loop_s / batches * total + evaluate_s)


def _time_checkpoint(model: nn.Module, step: PlainDistillStep, timer: PhaseTimer, folder: str) -> Dict[str, object]:
    """One save like ``Runner.save_checkpoint`` + ``AtomicCheckpointHook``: weights, optimizers, RNG, atomically."""
    from mmengine.runner.checkpoint import get_state_dict, weights_to_cpu

    from mmdfkd.engine.checkpoint_hook import rng_state
    from mmdfkd.engine.fileio import atomic_write
    path = osp.join(folder, f'iter_{model.iteration}.pth')
    with timer.measure('checkpoint'):
        start = time.perf_counter()
        checkpoint = dict(meta=dict(iter=model.iteration), state_dict=weights_to_cpu(get_state_dict(model)),
                          optimizer=dict(generator=step.opt_G.optimizer.state_dict(),
                                         student=step.opt_S.optimizer.state_dict()),
                          rng_state=rng_state())
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))
        seconds = time.perf_counter() - start
    return dict(seconds=seconds, bytes=osp.getsize(path))


def _interval(cfg: Config, kind: str) -> Optional[int]:
    """Iterations between validations (``train_cfg.val_interval``) or checkpoints (the checkpoint hook's)."""
    if kind == 'validation':
        return (cfg.get('train_cfg') or {}).get('val_interval')
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    return hook.get('interval') if hook else None


def _prepare_config(cfg: Config, random_teacher: bool, work_dir: str) -> Config:
    """The model trimmed to full iterations (no warm-ups), with the teacher's checkpoint checked or dropped."""
    if (cfg.get('model') or {}).get('type') not in DISTILLER_TYPES:
        raise ValueError(f'The cost breakdown times a DataFreeDistiller config (configs/dfkd_*.py), got model type '
                         f'{(cfg.get("model") or {}).get("type")!r}.')
    run_cfg = overhead_config(cfg, 1, work_dir)
    teacher = run_cfg.model.teacher
    checkpoint = teacher.get('checkpoint')
    if random_teacher:
        teacher.pop('checkpoint', None)
    elif checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Teacher checkpoint {checkpoint!r} does not exist. Train the teacher, point '
                                '--cfg-options model.teacher.checkpoint=PATH at it, or pass --random-teacher '
                                '(random weights do the same work, see the note in the output).')
    return run_cfg


def cost_breakdown(cfg: Config, iters: int = 5, warmup: int = 1, threads: Optional[int] = 1, val_batches: int = 5,
                   skip_val: bool = False, random_teacher: bool = False, matmul_size: int = 1024, seed: int = 0,
                   log: Callable[[str], None] = print) -> Dict[str, object]:
    """Time each phase of a data-free config's iterations, its validation and a checkpoint; FLOPs and roofline.

    Iterations are full ones (``generator_warmup_iters`` and
    ``adv_warmup_iters`` are set to 0, see
    :func:`~mmdfkd.analysis.overhead.overhead_config`), on the CPU, with the
    config's batch size.

    Args:
        cfg (Config): a data-free distillation config.
        iters (int): timed iterations.
        warmup (int): untimed iterations first.
        threads (int, optional): torch intra-op threads (``None`` keeps them).
        val_batches (int): val batches to time, extrapolated to the full pass;
            0 times the full pass.
        skip_val (bool): time no validation.
        random_teacher (bool): build the teacher without loading its checkpoint
            (nor any ``init_cfg``: ``init_weights`` is not called, so every
            network keeps its constructor's random initialisation).
        matmul_size (int): side of the peak matmul.
        seed (int): torch seed before the distiller is built.
        log (callable): prints the progress lines.

    Returns:
        dict: ``phases`` (phase -> ``ms`` per iteration, ``share`` of the
        iteration, ``run_share`` of the run with validation and checkpoints
        amortised, ``gflop`` per iteration, ``gflops_per_s``,
        ``peak_fraction``), ``iteration_ms`` (mean wall time),
        ``iteration_times_ms``, ``phase_sum_ms``, ``run_ms_per_iter``,
        ``validation`` and ``checkpoint`` (their own times, ``interval``,
        ``ms_per_iter`` amortised; ``validation`` is None when skipped),
        ``models`` (network -> ``params``, ``gflop_per_image`` forward,
        ``images_forward`` and ``images_backward`` per iteration,
        ``gflop_per_iter``), ``peak`` (:func:`matmul_peak`),
        ``pseudo_boxes_per_image``, ``iters``, ``warmup``, ``threads``,
        ``batch_size``, ``random_teacher``.
    """
    from mmdfkd.registry import MODELS
    if iters < 1 or warmup < 0:
        raise ValueError(f'iters must be >= 1 and warmup >= 0, got {iters} and {warmup}.')
    with tempfile.TemporaryDirectory(prefix='mmdfkd_cost_') as folder, num_threads(threads) as used:
        run_cfg = _prepare_config(cfg, random_teacher, folder)
        batch_size = run_cfg.train_dataloader.batch_size
        log(f'[cost] building the distiller ({"random teacher" if random_teacher else "teacher checkpoint"}), '
            f'batch {batch_size}, {used} thread(s)')
        init_default_scope(cfg.get('default_scope', 'mmdfkd'))
        torch.manual_seed(seed)
        model = MODELS.build(copy.deepcopy(run_cfg.model)).train()
        step = PlainDistillStep(model, run_cfg.optim_wrapper)
        peak = matmul_peak(matmul_size)
        log(f'[cost] fp32 matmul peak: {peak["gflops"]:.1f} GFLOP/s ({matmul_size}x{matmul_size}, '
            f'best of {peak["repeats"]})')
        times: List[float] = []
        with PhaseTimer(model, dict(generator=step.opt_G, student=step.opt_S)) as timer:
            for i in range(warmup):
                start = time.perf_counter()
                step(batch_size)
                log(f'[cost] warm-up iteration {i + 1}/{warmup}: {time.perf_counter() - start:.2f} s')
            for i in range(iters):
                start = time.perf_counter()
                with timer.measure():
                    step(batch_size)
                times.append(time.perf_counter() - start)
                log(f'[cost] iteration {i + 1}/{iters}: {times[-1]:.2f} s')
            iteration_s = dict(timer.seconds)
            validation = None if skip_val else _time_validation(model, cfg, timer, val_batches, log)
            log('[cost] checkpoint save')
            checkpoint = _time_checkpoint(model, step, timer, folder)
        log('[cost] counting FLOPs')
        forward = {}
        for name, _, size in timer.forward_images:
            if (name, size) not in forward:
                forward[(name, size)] = 2 * (generator_flops(model, batch_size) if name == 'generator' else
                                             complexity(getattr(model, name), size)['flops'])
    return _summarise(cfg, model, timer, iteration_s, times, validation, checkpoint, forward, peak,
                      dict(iters=iters, warmup=warmup, threads=used, batch_size=batch_size,
                           random_teacher=random_teacher, precision='bf16 autocast' if step.opt_S.bf16 else 'fp32'))


def _summarise(cfg, model, timer, iteration_s, times, validation, checkpoint, forward, peak, meta) -> dict:
    iters = meta['iters']
    flops = {phase: 0.0 for phase in ITERATION_PHASES + EVENT_PHASES}
    models = {name: dict(params=sum(p.numel() for p in getattr(model, name).parameters()), gflop_per_image=None,
                         images_forward=0, images_backward=0, gflop=0.0) for name in MODELS_COUNTED}
    for counts, factor, column in ((timer.forward_images, {}, 'images_forward'),
                                   (timer.backward_images, timer.backward_factor, 'images_backward')):
        for (name, phase, size), images in counts.items():
            per_image = forward[(name, size)]
            if phase in EVENT_PHASES:  # once, not per iteration
                flops[phase] += per_image * images
                continue
            entry = models[name]
            entry['gflop_per_image'] = per_image / 1e9
            entry[column] += images / iters
            work = factor.get(name, 1) * per_image * images / iters
            flops[phase] += work
            entry['gflop'] += work / 1e9
    for entry in models.values():
        entry['gflop_per_iter'] = entry.pop('gflop')

    def rate(gflop: float, seconds: float) -> Dict[str, Optional[float]]:
        if not gflop or seconds <= 0:
            return dict(gflops_per_s=None, peak_fraction=None)
        return dict(gflops_per_s=gflop / seconds, peak_fraction=gflop / seconds / peak['gflops'])

    iteration_ms = sum(times) / iters * 1e3
    events = {}
    for kind, info in (('validation', validation), ('checkpoint', checkpoint)):
        if info is None:
            continue
        event_s = info['full_pass_s'] if kind == 'validation' else info['seconds']
        interval = _interval(cfg, kind)
        measured_s = info['measured_s'] if kind == 'validation' else info['seconds']
        events[kind] = dict(info, interval=interval, ms_per_iter=event_s / interval * 1e3 if interval else None,
                            gflop=flops[kind] / 1e9, **rate(flops[kind] / 1e9, measured_s))
    run_ms = iteration_ms + sum(e['ms_per_iter'] or 0.0 for e in events.values())
    phases = {}
    for phase in ITERATION_PHASES:
        ms = iteration_s.get(phase, 0.0) / iters * 1e3
        gflop = flops[phase] / 1e9
        phases[phase] = dict(ms=ms, share=ms / iteration_ms, run_share=ms / run_ms, gflop=gflop,
                             **rate(gflop, ms / 1e3))
    pseudo = timer.pseudo_boxes / timer.pseudo_images if timer.pseudo_images else None
    return dict(meta, phases=phases, iteration_ms=iteration_ms, iteration_times_ms=[t * 1e3 for t in times],
                phase_sum_ms=sum(p['ms'] for p in phases.values()), run_ms_per_iter=run_ms,
                validation=events.get('validation'), checkpoint=events.get('checkpoint'), models=models,
                peak=peak, pseudo_boxes_per_image=pseudo, input_size=list(model.generator.img_size))


def _num(value: Optional[float], fmt: str) -> str:
    return '-' if value is None else format(value, fmt)


def _pct(value: Optional[float]) -> str:
    return '-' if value is None else f'{100 * value:.1f} %'


def format_breakdown(result: Dict[str, object]) -> str:
    """The markdown tables and notes of a :func:`cost_breakdown` result."""
    peak, run_ms = result['peak'], result['run_ms_per_iter']
    height, width = result['input_size']
    lines = [
        f'{result["iters"]} iterations after {result["warmup"]} warm-up, batch {result["batch_size"]}, '
        f'{height}x{width}, {result["threads"]} thread(s), {result.get("precision", "fp32")}; '
        f'iteration {result["iteration_ms"]:.0f} ms '
        f'(phases sum to {result["phase_sum_ms"]:.0f} ms); peak {peak["gflops"]:.1f} GFLOP/s '
        f'(fp32 torch.mm {peak["size"]}x{peak["size"]}, best of {peak["repeats"]}).', '',
        '| phase | ms / iteration | share of iteration | share of run | GFLOP / iteration | GFLOP/s | of peak |',
        '|---|---|---|---|---|---|---|']
    for phase, row in result['phases'].items():
        lines.append(f'| {PHASE_TITLES[phase]} | {row["ms"]:.1f} | {_pct(row["share"])} | {_pct(row["run_share"])} | '
                     f'{_num(row["gflop"] or None, ".2f")} | {_num(row["gflops_per_s"], ".1f")} | '
                     f'{_pct(row["peak_fraction"])} |')
    lines.append(f'| **iteration** | **{result["iteration_ms"]:.1f}** | 100 % | '
                 f'{_pct(result["iteration_ms"] / run_ms)} | '
                 f'{sum(r["gflop"] for r in result["phases"].values()):.2f} | | |')
    for kind in EVENT_PHASES:
        event = result[kind]
        if event is None:
            continue
        own = event['full_pass_s'] if kind == 'validation' else event['seconds']
        every = f'every {event["interval"]} iterations' if event['interval'] else 'not periodic in this config'
        amortised = event['ms_per_iter']
        lines.append(f'| {PHASE_TITLES[kind]}: {own:.2f} s {every}, amortised | {_num(amortised, ".1f")} | | '
                     f'{_pct(None if amortised is None else amortised / run_ms)} | | '
                     f'{_num(event["gflops_per_s"], ".1f")} | {_pct(event["peak_fraction"])} |')
    lines += [f'| **run, per iteration** | **{run_ms:.1f}** | | 100 % | | | |', '',
              '| network | params | GFLOP / image (forward) | images forward / iteration | '
              'images backward / iteration | GFLOP / iteration |', '|---|---|---|---|---|---|']
    for name, row in result['models'].items():
        lines.append(f'| {name} | {row["params"] / 1e6:.3f} M | {_num(row["gflop_per_image"], ".4f")} | '
                     f'{row["images_forward"]:g} | {row["images_backward"]:g} | {row["gflop_per_iter"]:.2f} |')
    notes = ['', 'Phases are exclusive (self) times, so they sum to the iteration. FLOPs: mmengine.analysis counts, '
             'a multiply-add as 2 FLOPs (as in the matmul peak); per-image forward FLOPs times the images each phase '
             'feeds a network; each image a backward pass reaches adds a backward, charged to the phase that called '
             'backward: 2x its forward for a trainable network, 1x for the frozen teacher (input gradients only). '
             'Decoding, NMS, losses, optimizer updates and fused attention (scaled_dot_product_attention) count no '
             'FLOPs.']
    if result['validation'] is not None:
        val = result['validation']
        notes.append(f'Validation: {val["batches"]} of {val["total_batches"]} batches ({val["images"]} images, '
                     f'data loading in this process) in {val["loop_s"]:.2f} s plus the evaluator in '
                     f'{val["evaluate_s"]:.2f} s; the full pass is extrapolated from them.')
    if result['random_teacher']:
        boxes = result['pseudo_boxes_per_image']
        notes.append("Teacher: random weights (--random-teacher). The work is the same as a trained teacher's, "
                     "except pseudo-label decoding and the student's pseudo-label loss, which grow with the "
                     f"teacher's detections above score_thr ({_num(boxes, '.1f')} pseudo boxes per image here).")
    return '\n'.join(lines + notes)
