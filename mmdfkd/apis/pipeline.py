"""The main job end to end: data, teacher, data-free distillation, evaluation, costs, report.

:func:`run_pipeline` (``tools/run_pipeline.py``) runs, each stage timed:

1. **data**: the real val split (and, when a teacher or a baseline trains, the
   train split); the bundled Digits-Det / Digits-Cls are built if missing.
2. **teacher**: reuse ``model.teacher.checkpoint`` of the distillation config
   when it exists, otherwise train it with its own config (and, first, a
   missing pretrained backbone that another teacher config produces:
   ``work_dirs/<name>/iter_<n>.pth`` comes from ``configs/teachers/<name>.py``).
3. **distill**: the data-free run, through the same Runner as ``tools/train.py``.
4. **evaluate**: teacher and student on the real val split, as
   ``tools/test.py`` does (the student exported by :func:`mmdfkd.apis.export_student`).
5. **costs**: parameters, FLOPs and interleaved CPU latency (:mod:`mmdfkd.analysis`).
6. **baselines** (optional): (a) the student trained on the real train split
   without a teacher, (b) the student distilled with the same losses on real
   train images (:class:`~mmdfkd.models.generators.RealImageGenerator`),
   both with the data-free run's number of student updates and batch size.
7. **report**: one markdown table, ``results.json`` and PNGs in the work dir.

``quick=True`` shrinks every training stage (``quick_iters`` iterations) to
check the whole path in minutes; its numbers are not results.
"""
import copy
import glob
import json
import os
import os.path as osp
import re
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional

from mmengine.config import Config, ConfigDict

from mmdfkd.analysis.logs import read_scalars
from mmdfkd.engine.launch import build_runner, check_data_files, load_config
from mmdfkd.models.distiller import resolved_student_config
from mmdfkd.visualization.run_plots import write_plots

DEFAULT_CONFIGS = {'det': 'configs/dfkd_vitdet_tiny.py', 'cls': 'configs/dfkd_deit-nano_deit-pico_digits-cls.py'}
METRICS = {'det': (('mAP', 'coco/bbox_mAP'), ('AP50', 'coco/bbox_mAP_50')), 'cls': (('top-1', 'accuracy/top1'), )}


def log(msg: str) -> None:
    print(f'[pipeline] {msg}', flush=True)


class Stages:
    """Wall-clock time of named stages, announced as they start and end."""

    def __init__(self) -> None:
        self.seconds: Dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        log(f'>>> {name}')
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            log(f'<<< {name}: {self.seconds[name]:.1f} s')


# ------------------------------------------------------------------- data
def _bundled(cfg: Config, split: str) -> Optional[tuple]:
    """(builder name, root) of the bundled benchmark a split's dataset points at, or None."""
    dataset = (cfg.get(f'{split}_dataloader') or {}).get('dataset') or {}
    root = (dataset.get('data_root') or '').rstrip('/')
    if dataset.get('type') == 'DigitsClsDataset' or 'digits-cls' in root:
        return 'digits-cls', root
    if 'digits-det' in root:
        return 'digits-det', root
    return None


def ensure_data(cfg: Config, splits=('val', )) -> List[str]:
    """Check the data files of ``splits``; build a missing bundled benchmark. Returns what was built."""
    from mmdfkd.datasets.digits import build_digits_cls, build_digits_det
    built = []
    try:
        check_data_files(cfg, splits)
        return built
    except FileNotFoundError:
        pass
    for split in splits:
        found = _bundled(cfg, split)
        if found is None or found[1] in built:
            continue
        name, root = found
        log(f'building {name} in {root} (python tools/prepare_data.py {name} --out {root})')
        (build_digits_det if name == 'digits-det' else build_digits_cls)(root)
        built.append(root)
    check_data_files(cfg, splits)  # anything still missing is not bundled: its error says what to do
    return built


# ---------------------------------------------------------------- teacher
def _quick_options(iters: int, logger: bool = True) -> dict:
    options = {'train_cfg.max_iters': iters, 'train_cfg.val_interval': max(1, iters // 2)}
    if logger:
        options['default_hooks.logger.interval'] = 1
    return options


def _last_checkpoint(work_dir: str) -> str:
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
        if osp.isfile(osp.join(work_dir, osp.basename(path))):
            return osp.join(work_dir, osp.basename(path))
    found = sorted(glob.glob(osp.join(work_dir, 'iter_*.pth')),
                   key=lambda p: int(re.findall(r'iter_(\d+)', p)[-1]))
    if not found:
        raise FileNotFoundError(f'No checkpoint in {work_dir}: did training stop early? See its log there.')
    return found[-1]


def _config_producing(checkpoint: str) -> Optional[str]:
    """``configs/teachers/<name>.py`` for ``work_dirs/<name>/iter_<n>.pth``, if that config exists."""
    parts = checkpoint.replace(osp.sep, '/').split('/')
    if len(parts) >= 2 and parts[-2]:
        config = osp.join('configs', 'teachers', parts[-2] + '.py')
        if osp.isfile(config):
            return config
    return None


def train_model(config: str, work_dir: str, cfg_options: Optional[dict] = None) -> str:
    """Train ``config`` like ``tools/train.py`` into ``work_dir``; returns the last checkpoint."""
    cfg = load_config(config, cfg_options, work_dir)
    ensure_data(cfg, ('train', 'val'))
    build_runner(cfg).train()
    return _last_checkpoint(work_dir)


def ensure_teacher(config: str, checkpoint: str, quick: bool, quick_iters: int, work_dir: str,
                   stages: Stages) -> dict:
    """The teacher checkpoint: ``checkpoint`` if it exists, else trained now.

    A full run trains into ``checkpoint``'s folder with the teacher config's
    schedule. A quick run trains ``quick_iters`` iterations into
    ``work_dir/teacher`` and never writes to the cached path.

    Returns:
        dict: ``checkpoint``, ``cached`` (bool), ``seconds`` (training time, 0 when cached).
    """
    if osp.isfile(checkpoint):
        log(f'teacher: reusing {checkpoint}')
        return dict(checkpoint=checkpoint, cached=True, seconds=0.0)
    cfg = Config.fromfile(config)
    options = _quick_options(quick_iters) if quick else {}
    pretrained = ((cfg.get('model') or {}).get('backbone') or {}).get('init_cfg') or {}
    pretrained = pretrained.get('checkpoint') if isinstance(pretrained, dict) else None
    if pretrained and '://' not in pretrained and not osp.isfile(pretrained):
        producer = _config_producing(pretrained)
        if producer is None:
            raise FileNotFoundError(f'The teacher config {config} starts its backbone from {pretrained}, which does '
                                    'not exist and no configs/teachers/ config produces it. Supply the file.')
        log(f'teacher backbone {pretrained} is missing: training {producer} first')
        sub = ensure_teacher(producer, pretrained, quick, quick_iters, osp.join(work_dir, 'pretrain'), stages)
        options['model.backbone.init_cfg.checkpoint'] = sub['checkpoint']
    target = osp.join(work_dir, 'teacher') if quick else osp.dirname(checkpoint) or '.'
    log(f'teacher: {checkpoint} not found, training {config} into {target}' + (' (quick)' if quick else ''))
    start = time.perf_counter()
    with stages(f'train teacher {osp.basename(config)}'):
        trained = train_model(config, target, options)
    if not quick and osp.abspath(trained) != osp.abspath(checkpoint):
        log(f'teacher: the run ended with {trained}, not {checkpoint}; using {trained}')
    return dict(checkpoint=trained, cached=False, seconds=time.perf_counter() - start)


# ---------------------------------------------------------------- evaluate
def evaluate(config: str, checkpoint: str, work_dir: str) -> Dict[str, float]:
    """What ``tools/test.py CONFIG CHECKPOINT`` does; returns its metrics."""
    cfg = load_config(config, work_dir=work_dir, check_data=('test', ))
    cfg.load_from = checkpoint
    metrics = build_runner(cfg).test()
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def val_curve(task: str, run_dir: str) -> List[dict]:
    """``[{'step': iteration, <metric>: value, ...}]`` of every validation of a run, from its scalars.json."""
    return [dict(step=r['step'], **{name: r[key] for name, key in METRICS[task] if key in r})
            for r in read_scalars(run_dir) if METRICS[task][0][1] in r]


# ---------------------------------------------------------------- baselines
def real_data_student_config(cfg: Config, teacher_config: str, updates: int, work_dir: str) -> Config:
    """Baseline (a): the student alone, trained on the teacher's real train split.

    The model is the distillation config's student; the train loader is the
    teacher config's (its real training data), with the distillation batch
    size; val/test as in the distillation config; AdamW as the teachers use
    it, linear warm-up then cosine decay over ``updates`` iterations.
    """
    teacher_cfg = Config.fromfile(teacher_config)
    if teacher_cfg.get('train_dataloader') is None:
        raise ValueError(f'{teacher_config} has no train_dataloader: baseline (a) needs the real train split.')
    train_loader = copy.deepcopy(teacher_cfg.train_dataloader)
    train_loader.batch_size = cfg.train_dataloader.batch_size
    warmup = max(1, min(50, updates // 10))
    new = dict(
        default_scope=cfg.get('default_scope', 'mmdfkd'),
        model=resolved_student_config(cfg.model.to_dict()),
        work_dir=work_dir,
        train_dataloader=train_loader,
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=updates, val_interval=max(1, updates // 2)),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                           clip_grad=dict(max_norm=10.0)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup),
            dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup, end=max(updates, warmup + 1),
                 T_max=max(updates - warmup, 1), eta_min=1e-5)])
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg', 'test_dataloader', 'test_evaluator', 'test_cfg',
                'env_cfg', 'vis_backends', 'visualizer', 'log_processor', 'log_level', 'randomness',
                'default_hooks'):
        if cfg.get(key) is not None:
            new[key] = copy.deepcopy(cfg[key])
    return Config(new)


def real_image_distill_config(cfg: Config, teacher_config: str) -> Config:
    """Baseline (b): the distillation config, with real train images in place of synthetic ones.

    The generator is a :class:`RealImageGenerator` over the teacher config's
    train split (annotations unused: the student learns only from the teacher
    through the same distillation losses and pseudo labels); no generator
    updates, priors, replay, refinement or generator warm-up; every student
    step gets a fresh real batch.
    """
    teacher_cfg = Config.fromfile(teacher_config)
    if teacher_cfg.get('train_dataloader') is None:
        raise ValueError(f'{teacher_config} has no train_dataloader: baseline (b) needs the real train split.')
    dataset = copy.deepcopy(teacher_cfg.train_dataloader.dataset)
    new = copy.deepcopy(cfg)
    size = new.model.generator.get('img_size')
    new.model.generator = ConfigDict(type='RealImageGenerator', dataset=dataset, img_size=size)
    new.model.priors = ConfigDict()
    new.model.generator_steps = 0
    new.model.refine_ratio = 0.0
    new.model.memory_capacity = 0
    new.model.fresh_student_batches = True
    new.model.adv_warmup_iters = 0
    new.model.generator_warmup_iters = 0
    new.custom_hooks = [h for h in (new.get('custom_hooks') or []) if h.get('type') != 'SyntheticImageHook']
    return new


# ------------------------------------------------------------------ report
def _fmt(value, kind: str) -> str:
    if value is None:
        return 'n/a'
    if kind == 'metric':
        return f'{value:.3f}'
    if kind == 'params':
        return f'{value / 1e6:.3f} M'
    if kind == 'flops':
        return f'{value / 1e9:.3f} G'
    if kind == 'ms':
        return f'{value:.2f} ms'
    if kind == 's':
        return f'{value / 60:.1f} min' if value >= 600 else f'{value:.1f} s'
    return str(value)


def markdown_table(results: dict) -> str:
    """One row per model: metrics, params, FLOPs, CPU latency, wall time of its stage."""
    names = [name for name, _ in METRICS[results['task']]]
    head = ['model', *names, 'params', 'FLOPs', 'CPU latency', 'stage wall time']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row in results['rows']:
        cells = [row['name'], *[_fmt(row['metrics'].get(n), 'metric') for n in names],
                 _fmt(row.get('params'), 'params'), _fmt(row.get('flops'), 'flops'),
                 _fmt(row.get('latency_ms'), 'ms'), _fmt(row.get('stage_s'), 's') + row.get('stage_note', '')]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


# -------------------------------------------------------------------- main
def table_metrics(task: str, raw: Dict[str, float]) -> Dict[str, float]:
    """The table's metrics; mmdet's CocoMetric returns nothing for a model without detections: that is 0."""
    if task == 'det' and not raw:
        log('no detections on the val split: COCO mAP and AP50 are 0')
        return {name: 0.0 for name, _ in METRICS[task]}
    return {name: raw[key] for name, key in METRICS[task] if key in raw}


def run_pipeline(task: str = 'det', config: Optional[str] = None, work_dir: Optional[str] = None,
                 quick: bool = False, baselines: bool = False, quick_iters: int = 4, threads: int = 1,
                 latency_repeats: int = 30, latency_warmup: int = 5,
                 cfg_options: Optional[dict] = None) -> dict:
    """Run the main job; see the module docstring. Returns what ``results.json`` holds.

    Args:
        task (str): 'det' or 'cls'; picks the default config.
        config (str, optional): a data-free distillation config (default:
            ``configs/dfkd_vitdet_tiny.py`` / ``configs/dfkd_deit-nano_deit-pico_digits-cls.py``).
        work_dir (str, optional): default ``work_dirs/pipeline_<task>``.
        quick (bool): ``quick_iters`` iterations for every training stage.
        baselines (bool): also train baselines (a) and (b).
        threads (int): torch threads for the latency measurement.
        cfg_options (dict, optional): overrides for the distillation config.
    """
    import torch

    from mmdfkd.analysis import build_teacher_student, compare_latency, complexity, input_size_of
    from mmdfkd.apis.export import export_student
    if task not in DEFAULT_CONFIGS:
        raise ValueError(f'task must be one of {sorted(DEFAULT_CONFIGS)}, got {task!r}.')
    config = config or DEFAULT_CONFIGS[task]
    work_dir = work_dir or osp.join('work_dirs', f'pipeline_{task}')
    os.makedirs(work_dir, exist_ok=True)
    stages = Stages()
    # Val metrics logged against the iteration (MMEngine logs them by epoch, 0 in an iteration-based run).
    options = {'default_hooks.logger.log_metric_by_epoch': False, **(cfg_options or {})}
    if quick:
        options.update(_quick_options(quick_iters))
    distill_dir = osp.join(work_dir, 'distill')
    wall_start = time.perf_counter()

    with stages('data'):
        cfg = load_config(config, options, distill_dir)
        if cfg.model.get('type') not in ('DataFreeDistiller', 'mmdfkd.DataFreeDistiller'):
            raise ValueError(f'{config} is not a data-free distillation config (model.type is {cfg.model.type!r}).')
        if task == 'det' and cfg.model.get('task') != 'det' or task == 'cls' and cfg.model.get('task') != 'cls':
            raise ValueError(f'{config} distils a {cfg.model.get("task")!r} model; pass --task '
                             f'{cfg.model.get("task")}.')
        warmup = int(cfg.model.get('generator_warmup_iters', 0) or 0)
        if quick and warmup >= quick_iters:
            # otherwise a quick run never reaches a student step
            options['model.generator_warmup_iters'] = quick_iters // 2
            cfg.model.generator_warmup_iters = quick_iters // 2
            log(f'quick: generator_warmup_iters {warmup} -> {quick_iters // 2}')
        ensure_data(cfg, ('val', ))
        teacher_config = cfg.model.teacher.get('config')
        if teacher_config is None:
            raise ValueError('The pipeline needs model.teacher.config (a config file that trains and evaluates '
                             'the teacher), not model.teacher.model.')
        teacher_cfg = Config.fromfile(teacher_config)
        ensure_data(teacher_cfg, ('val', ))

    teacher = ensure_teacher(teacher_config, cfg.model.teacher.checkpoint, quick, quick_iters, work_dir, stages)
    if teacher['checkpoint'] != cfg.model.teacher.checkpoint:
        options['model.teacher.checkpoint'] = teacher['checkpoint']
        cfg.model.teacher.checkpoint = teacher['checkpoint']

    with stages('distill'):
        build_runner(cfg).train()
        student_ckpt = _last_checkpoint(distill_dir)

    with stages('evaluate'):
        log(f'teacher {teacher["checkpoint"]} on the real val split')
        teacher_raw = evaluate(teacher_config, teacher['checkpoint'], osp.join(work_dir, 'eval_teacher'))
        exported = export_student(config, student_ckpt, osp.join(work_dir, 'student'), options)
        log(f'student {exported["checkpoint"]} on the real val split')
        student_raw = evaluate(exported['config'], exported['checkpoint'], osp.join(work_dir, 'eval_student'))

    with stages('costs'):
        size = input_size_of(cfg)
        teacher_model, student_model = build_teacher_student(cfg)
        lat = compare_latency(dict(teacher=teacher_model, student=student_model), size, latency_repeats,
                              latency_warmup, threads)
        costs = {name: dict(complexity(model, size), latency_ms=lat[name]['median_ms'])
                 for name, model in (('teacher', teacher_model), ('student', student_model))}
        del teacher_model, student_model

    student_updates = int(cfg.train_cfg.max_iters) * int(cfg.model.get('student_steps', 1))
    rows = [
        dict(name='teacher', metrics=table_metrics(task, teacher_raw), **costs['teacher'], stage_s=teacher['seconds'],
             stage_note=' (cached)' if teacher['cached'] else '', checkpoint=teacher['checkpoint']),
        dict(name='data-free student', metrics=table_metrics(task, student_raw), **costs['student'],
             stage_s=stages.seconds['distill'], checkpoint=exported['checkpoint']),
    ]
    baseline_info = {}
    if baselines:
        ensure_data(teacher_cfg, ('train', ))
        with stages('baseline real-data student'):
            sub_dir = osp.join(work_dir, 'baseline_real_data')
            base_cfg = real_data_student_config(cfg, teacher_config, student_updates, sub_dir)
            build_runner(base_cfg).train()
            ckpt = _last_checkpoint(sub_dir)
            base_config = osp.join(sub_dir, 'config.py')
            base_cfg.dump(base_config)
            raw = evaluate(base_config, ckpt, osp.join(sub_dir, 'eval'))
        rows.append(dict(name='student, real data, no teacher', metrics=table_metrics(task, raw), **costs['student'],
                         stage_s=stages.seconds['baseline real-data student'], checkpoint=ckpt))
        with stages('baseline distil on real images'):
            sub_dir = osp.join(work_dir, 'baseline_real_images')
            real_cfg = real_image_distill_config(cfg, teacher_config)
            real_cfg.work_dir = sub_dir
            build_runner(real_cfg).train()
            ckpt = _last_checkpoint(sub_dir)
            real_config = osp.join(sub_dir, 'config.py')
            real_cfg.dump(real_config)
            out = export_student(real_config, ckpt, osp.join(sub_dir, 'student'))
            raw = evaluate(out['config'], out['checkpoint'], osp.join(sub_dir, 'eval'))
        rows.append(dict(name='student, distilled on real images', metrics=table_metrics(task, raw),
                         **costs['student'], stage_s=stages.seconds['baseline distil on real images'],
                         checkpoint=out['checkpoint']))
        baseline_info = dict(student_updates=student_updates, batch_size=int(cfg.train_dataloader.batch_size))

    results = dict(
        task=task, config=config, quick=quick, work_dir=work_dir, cfg_options={k: v for k, v in options.items()},
        rows=rows, stages_s=dict(stages.seconds), latency=dict(threads=lat['threads'], repeats=lat['repeats'],
                                                               warmup=lat['warmup'], input_size=lat['input_size'],
                                                               batch=1, torch=torch.__version__),
        latency_ratio=costs['student']['latency_ms'] / costs['teacher']['latency_ms'],
        params_ratio=costs['student']['params'] / costs['teacher']['params'],
        flops_ratio=costs['student']['flops'] / max(costs['teacher']['flops'], 1),
        distill=dict(max_iters=int(cfg.train_cfg.max_iters), student_updates=student_updates,
                     checkpoint=student_ckpt, work_dir=distill_dir, val_curve=val_curve(task, distill_dir)),
        baselines=baseline_info)
    with stages('report'):
        results['plots'] = write_plots(results, METRICS[task][0][0], distill_dir, work_dir)
    results['stages_s'] = dict(stages.seconds)
    results['wall_s'] = time.perf_counter() - wall_start
    results['table'] = markdown_table(results)
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    return results
