"""Compare synthetic-image generators: quality reached, time to a fraction of the teacher, images per second.

Each run is ``tools/train.py`` in a subprocess on a copy of its config that
validates every VAL_INTERVAL iterations and logs, with every validation, the
seconds of training so far (validation time excluded) and the synthetic images
drawn (:class:`~mmdfkd.engine.TrainTimeHook`). A run ends at its ``max_iters``
or at the first validation past the budget. ``CONFIG@RUN_DIR`` trains nothing:
it reads the curve of a finished run. ``tools/benchmark_generators.py`` is the
command line.
"""
import json
import os
import os.path as osp
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Sequence, Tuple

from mmengine.config import Config

from .logs import first_reaching, images_per_second, metric_at, read_scalars, time_to_target, timed_curve
from .runs import teacher_score, with_train_timer

METRIC_KEYS = ('coco/bbox_mAP', 'accuracy/top1')


def parse_run(spec: str) -> Tuple[str, Optional[int]]:
    """``'CONFIG[:VAL_INTERVAL]'`` -> ``(config, val_interval or None)``."""
    config, sep, interval = spec.rpartition(':')
    if not sep or not interval.isdigit():
        return spec, None
    if int(interval) < 1:
        raise ValueError(f'{spec!r}: the validation interval after ":" must be >= 1 iteration.')
    return config, int(interval)


def run_name(config: str) -> str:
    """The config's file name without ``.py``."""
    return osp.splitext(osp.basename(config))[0]


def metric_key(cfg: Config) -> str:
    """The first of :data:`METRIC_KEYS` the config's evaluator produces."""
    evaluator = cfg.val_evaluator
    kind = evaluator.get('type', '') if isinstance(evaluator, dict) else ''
    return 'accuracy/top1' if 'Accuracy' in kind else 'coco/bbox_mAP'


def prepare(config: str, val_interval: Optional[int], budget_min: float, work_dir: str,
            cfg_options: Optional[dict] = None) -> Tuple[str, Config]:
    """Write the timed copy of ``config`` into ``work_dir``; returns its path and the config."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    interval = val_interval or int(cfg.train_cfg.get('val_interval', 50))
    cfg = with_train_timer(cfg, interval, budget_min * 60)
    cfg.work_dir = work_dir
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, 'config.py')
    cfg.dump(path)
    return path, cfg


def finished_run(spec: str) -> dict:
    """The row of ``CONFIG@RUN_DIR``: the curve a finished run logged with ``TrainTimeHook``.

    The seed and the validation loop come from the config the run dumped into
    RUN_DIR (``CONFIG`` itself when it dumped none). ``subset_val`` is true when
    the validations before the last scored a fixed subset (``SubsetValLoop``),
    so that the table can mark the times read off them.
    """
    config, _, run_dir = spec.partition('@')
    cfg = Config.fromfile(config)
    key = metric_key(cfg)
    curve = timed_curve(read_scalars(run_dir), key)
    if not curve:
        raise FileNotFoundError(f'{spec}: no validation with train_s in {run_dir}/*/vis_data/scalars.json; '
                                'the run needs TrainTimeHook in its custom_hooks.')
    dumped = osp.join(run_dir, osp.basename(config))
    run_cfg = Config.fromfile(dumped) if osp.isfile(dumped) else cfg
    seed = (run_cfg.get('randomness') or {}).get('seed')
    return dict(name=run_name(config), config=config, generator=cfg.model.generator.type, metric=key, curve=curve,
                run_dir=run_dir, max_iters=int(cfg.train_cfg.max_iters), command=f'(finished run in {run_dir})',
                seed=seed, subset_val=(run_cfg.get('val_cfg') or {}).get('type') == 'SubsetValLoop')


def _is_subset(row: dict, point: dict) -> bool:
    """Whether ``point`` is a subset validation of ``row`` (a ``SubsetValLoop`` run's, not its last, full one)."""
    return bool(row.get('subset_val')) and point is not row['curve'][-1]


def _point_cell(row: dict, point: dict, text: str) -> str:
    """``text`` with a ``*`` when ``point`` is a subset validation of ``row``."""
    return text + ('*' if _is_subset(row, point) else '')


def _seed_points(rows: Sequence[dict], pick: Callable[[List[dict]], Optional[dict]]) -> Tuple[list, str]:
    """``(row, pick(row's curve))`` for the rows where ``pick`` finds a point, and ``'*'`` if any is a subset one."""
    points = [(row, point) for row, point in ((row, pick(row['curve'])) for row in rows) if point is not None]
    return points, '*' if any(_is_subset(row, point) for row, point in points) else ''


def run_one(spec: str, work_root: str, budget_min: float, threads: int = 1, cfg_options: Optional[dict] = None,
            command: str = '', seed: Optional[int] = None, jobs: int = 1) -> dict:
    """Train ``CONFIG[:VAL_INTERVAL]`` with ``tools/train.py`` in a subprocess; returns its row.

    Args:
        spec (str): ``CONFIG[:VAL_INTERVAL]``.
        work_root (str): the run goes to ``<work_root>/<config name>``, its
            log to ``<work_root>/<config name>.log``.
        budget_min (float): minutes of training before the run stops.
        threads (int): ``OMP_NUM_THREADS`` of the run.
        cfg_options (dict, optional): overrides of the config.
        command (str): the command line recorded with the row.
        seed (int, optional): ``randomness.seed`` of the run; its name gets
            ``_seed<S>``. ``None`` keeps the config's seed.
        jobs (int): runs the benchmark trains at once (recorded with the row).
    """
    config, val_interval = parse_run(spec)
    name = run_name(config) + ('' if seed is None else f'_seed{seed}')
    work_dir = osp.join(work_root, name)
    options = dict(cfg_options or {}, **({} if seed is None else {'randomness.seed': seed}))
    timed_config, cfg = prepare(config, val_interval, budget_min, work_dir, options)
    env = {'OMP_NUM_THREADS': str(threads)}
    cmd = ['python', 'tools/train.py', timed_config, '--work-dir', work_dir]
    print(f'[benchmark] {name}: {" ".join(f"{k}={v}" for k, v in env.items())} {shlex.join(cmd)}', flush=True)
    start = time.time()
    log_path = osp.join(work_root, f'{name}.log')
    with open(log_path, 'w') as log:
        code = subprocess.call(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - start
    key = metric_key(cfg)
    curve = timed_curve(read_scalars(work_dir), key)
    if code != 0 or not curve:
        print(f'[benchmark] {name} failed (exit {code}) or never validated; see {log_path}', file=sys.stderr)
    return dict(name=name, config=config, generator=cfg.model.generator.type, metric=key, curve=curve,
                wall_s=wall, exit_code=code, budget_min=budget_min, val_interval=cfg.train_cfg.val_interval,
                max_iters=int(cfg.train_cfg.max_iters), threads=threads, command=command, seed=seed, jobs=jobs)


def _budget_header(label: str, budget_min: Optional[float]) -> str:
    return '' if budget_min is None else f'{label} at {budget_min:g} min | '


def markdown_table(rows: List[dict], teacher: float, targets: Sequence[float],
                   budget_min: Optional[float] = None) -> str:
    """One row per run, one time column per target fraction of the teacher's metric.

    A time cell reads ``'12.0 min (4.0x)'``: training minutes to the first validation at or
    above ``target * teacher``, and in brackets the first row's time divided by this row's
    (when both reached it). With ``budget_min``, a column gives each run's metric at the
    last validation within that much training (:func:`~mmdfkd.analysis.logs.metric_at`),
    the equal-budget comparison. A ``*`` marks a cell read off a subset validation.
    """
    label = 'mAP' if rows and rows[0]['metric'] == 'coco/bbox_mAP' else 'top-1'
    goals = [t * teacher for t in targets]
    extra = int(budget_min is not None)
    lines = ['| generator (config) | ' + f'{label} at the end (iter) | / teacher | training time | '
             + _budget_header(label, budget_min)
             + ' | '.join(f'time to {t:g}x teacher ({g:.3f})' for t, g in zip(targets, goals))
             + ' | synthetic images/s |',
             '|---' * (5 + extra + len(targets)) + '|']
    references = [time_to_target(rows[0]['curve'], g) if rows else None for g in goals]
    for row in rows:
        curve = row['curve']
        name = f"{row['generator']} (`{row['config']}`)"
        if not curve:
            lines.append(f'| {name} | failed |' + ' - |' * (3 + extra + len(targets)))
            continue
        last = curve[-1]
        cells = []
        if budget_min is not None:
            point = metric_at(curve, budget_min * 60)
            cells.append('none yet' if point is None else
                         _point_cell(row, point, f"{point['metric']:.3f} ({point['iter']})"))
        for goal, reference in zip(goals, references):
            point = first_reaching(curve, goal)
            if point is None:
                cells.append('not reached')
            elif reference is None or row is rows[0]:
                cells.append(_point_cell(row, point, f"{point['train_s'] / 60:.1f} min"))
            else:
                cells.append(_point_cell(row, point, f"{point['train_s'] / 60:.1f} min "
                                                     f"({reference / point['train_s']:.1f}x)"))
        rate = images_per_second(curve)
        lines.append(f"| {name} | {last['metric']:.3f} ({last['iter']}) | {last['metric'] / teacher:.3f} | "
                     f"{last['train_s'] / 60:.1f} min | " + ' | '.join(cells)
                     + f" | {'n/a' if rate is None else f'{rate:.2f}'} |")
    return '\n'.join(lines)


def _mean_std(values: Sequence[float], fmt: str = '.3f') -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f'{statistics.mean(values):{fmt}} ± {statistics.stdev(values):{fmt}}'


def seed_summary_table(rows: List[dict], teacher: float, targets: Sequence[float],
                       budget_min: Optional[float] = None) -> str:
    """One row per config over its seeds: mean ± std of the final metric, mean time to each target.

    A time cell reads ``'12.0 min (3/3)'``: the mean training minutes to the
    target over the seeds that reached it, and how many of the seeds did. With
    ``budget_min``, a column gives the mean ± std of the metric at that much
    training over the seeds that had validated by then. A ``*`` marks a cell
    read off a subset validation in any of the seeds.
    """
    label = 'mAP' if rows and rows[0]['metric'] == 'coco/bbox_mAP' else 'top-1'
    goals = [t * teacher for t in targets]
    extra = int(budget_min is not None)
    lines = ['| generator (config) | seeds | ' + f'{label} at the end | / teacher | training time | '
             + _budget_header(label, budget_min)
             + ' | '.join(f'time to {t:g}x teacher ({g:.3f})' for t, g in zip(targets, goals))
             + ' | synthetic images/s |',
             '|---' * (6 + extra + len(targets)) + '|']
    for config in dict.fromkeys(row['config'] for row in rows):
        group = [row for row in rows if row['config'] == config]
        done = [row for row in group if row['curve']]
        name = f"{group[0]['generator']} (`{config}`)"
        seeds = ', '.join(str(row.get('seed')) for row in group)
        if not done:
            lines.append(f'| {name} | {seeds} | failed |' + ' - |' * (3 + extra + len(targets)))
            continue
        finals = [row['curve'][-1]['metric'] for row in done]
        cells = []
        if budget_min is not None:
            points, star = _seed_points(done, lambda curve: metric_at(curve, budget_min * 60))
            cells.append(f"{_mean_std([point['metric'] for _, point in points])}{star} "
                         f"({len(points)}/{len(group)})" if points else f'none yet (0/{len(group)})')
        for goal in goals:
            points, star = _seed_points(done, lambda curve: first_reaching(curve, goal))
            cells.append(f"{statistics.mean(point['train_s'] for _, point in points) / 60:.1f} min{star} "
                         f"({len(points)}/{len(group)})" if points else f'not reached (0/{len(group)})')
        rates = [r for r in (images_per_second(row['curve']) for row in done) if r is not None]
        failed = len(group) - len(done)
        lines.append(f'| {name} | {seeds}{f" ({failed} failed)" if failed else ""} | {_mean_std(finals)} | '
                     f'{_mean_std([f / teacher for f in finals])} | '
                     f"{statistics.mean(row['curve'][-1]['train_s'] for row in done) / 60:.1f} min | "
                     + ' | '.join(cells) + f" | {_mean_std(rates, '.2f') if rates else 'n/a'} |")
    return '\n'.join(lines)


def compare_generators(runs: Sequence[str], work_dir: str, budget_min: float = 30.0,
                       targets: Sequence[float] = (0.5, 0.8, 0.9), threads: int = 1, collect: bool = False,
                       cfg_options: Optional[dict] = None, command: str = '',
                       seeds: Sequence[Optional[int]] = (None, ), jobs: int = 1) -> str:
    """Train (or collect) every run, score the teacher once, write and return the markdown table.

    Args:
        runs (Sequence[str]): ``CONFIG[:VAL_INTERVAL]`` to train, or
            ``CONFIG@RUN_DIR`` to read a finished run; the first is the
            reference of the speed-ups.
        work_dir (str): one sub-folder and one ``<name>.json`` record per run,
            and ``results.md``.
        budget_min (float): minutes of training per run.
        targets (Sequence[float]): fractions of the teacher's metric to time.
        threads (int): ``OMP_NUM_THREADS`` of each run.
        collect (bool): train nothing; rebuild the table from the records.
        cfg_options (dict, optional): overrides applied to every run.
        command (str): the command line recorded with each row.
        seeds (Sequence[int | None]): ``randomness.seed`` of each trained run
            per config; with more than one, the table is mean ± std over them
            (:func:`seed_summary_table`) above the per-run rows.
        jobs (int): runs trained at once, in the order given (2 runs of
            ``threads=1`` side by side share a 2-core machine alike, so their
            times compare); every row records it.
    """
    os.makedirs(work_dir, exist_ok=True)
    slots: List[Optional[dict]] = []  # one per row, in table order; trained runs fill theirs as they finish
    to_train = []  # (slot, spec, seed, record)
    for spec in runs:
        if '@' in spec:  # read from RUN_DIR every time; no record of its own
            slots.append(finished_run(spec))
            continue
        for seed in seeds:
            name = run_name(parse_run(spec)[0]) + ('' if seed is None else f'_seed{seed}')
            record = osp.join(work_dir, f'{name}.json')
            if collect:
                if not osp.isfile(record):
                    raise FileNotFoundError(f'--collect: no {record}; run the benchmark for {spec} first')
                with open(record) as f:
                    slots.append(json.load(f))
                continue
            to_train.append((len(slots), spec, seed, record))
            slots.append(None)

    def train(slot: int, spec: str, seed: Optional[int], record: str) -> None:
        slots[slot] = run_one(spec, work_dir, budget_min, threads, cfg_options, command, seed, jobs)
        with open(record, 'w') as f:
            json.dump(slots[slot], f, indent=2)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # subprocesses: threads only wait
        for future in [pool.submit(train, *job) for job in to_train]:
            future.result()
    rows = [row for row in slots if row is not None]
    first = parse_run(runs[0].partition('@')[0])[0]
    teacher = teacher_score(first, osp.join(work_dir, 'teacher'), rows[0]['metric'])
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    tables = [markdown_table(rows, teacher, targets, budget_min)]
    configs = [row['config'] for row in rows]
    if len(set(configs)) < len(configs):  # some config ran more than once: seeds
        tables = [seed_summary_table(rows, teacher, targets, budget_min), '', 'Per run:', ''] + tables
    text = '\n'.join(tables + [
        '',
        f'Teacher {teacher:.3f} on the same real val split. Training time excludes validation; synthetic images '
        f'are those drawn from the generator (per iteration one batch, plus one per fresh student batch) per '
        f'second of training. "{budget_min:g} min" is the equal budget: each run\'s metric at its last validation '
        f'within {budget_min:g} min of training, whatever its schedule. * marks a time or metric read off a subset '
        f'validation (a finished run validated with SubsetValLoop; its last validation is on the whole split). '
        f'Commit {commit or "unknown"}, {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.'
    ]) + '\n'
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(text)
    return text
