"""Compare synthetic-image generators: quality reached, time to a fraction of the teacher, images per second.

    python tools/benchmark_generators.py [--runs CONFIG[:VAL_INTERVAL][@RUN_DIR] ...] [--budget-min 30]
        [--targets 0.5 0.8 0.9] [--work-dir work_dirs/benchmark_generators] [--threads 1] [--collect]
        [--cfg-options key=value ...]

Each run is ``tools/train.py`` in a subprocess on a copy of CONFIG that validates every
VAL_INTERVAL iterations and logs, with every validation, the seconds of training so far
(validation time excluded) and the synthetic images drawn (``TrainTimeHook``). A run ends at its
``max_iters`` or at the first validation past ``--budget-min`` minutes of training, whichever
comes first. The teacher is scored once on the same real val split. The markdown table (metric at
the end, training time to each ``--targets`` fraction of the teacher's metric with the speed-up
against the first run, synthetic images per second) is printed and written to
``<work-dir>/results.md``; every run's curve goes to ``<work-dir>/<name>.json``.
``CONFIG@RUN_DIR`` trains nothing: it reads the curve of a
finished run of CONFIG in RUN_DIR (one that logged with ``TrainTimeHook``, e.g. the headline's
``tools/train.py`` or ``tools/run_pipeline.py`` distill stage).

Not a test: each run trains for up to the budget. Needs the teacher checkpoints the configs name.
"""
import argparse
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from typing import List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

from mmdfkd.benchmark import images_per_second, teacher_score, time_to_target, timed_curve, with_train_timer
from mmdfkd.pipeline import read_scalars

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_RUNS = ('configs/dfkd_vitdet-tiny_vit-pico_digits-det_pixel-gen.py:10', 'configs/dfkd_vitdet-tiny_vit-pico_digits-det_conv-gen.py:40',
                'configs/dfkd_vitdet-tiny_vit-pico_digits-det_vit-gen.py:40', 'configs/dfkd_vitdet_tiny.py:50')
METRIC_KEYS = ('coco/bbox_mAP', 'accuracy/top1')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Compare data-free generators: quality over training time')
    parser.add_argument('--runs', nargs='+', default=list(DEFAULT_RUNS),
                        help='CONFIG[:VAL_INTERVAL] per run, or CONFIG@RUN_DIR to read a finished run; the first is the reference for the speed-up '
                             f'(default: {" ".join(DEFAULT_RUNS)})')
    parser.add_argument('--budget-min', type=float, default=30.0,
                        help='stop a run at the first validation past this many minutes of training')
    parser.add_argument('--targets', type=float, nargs='+', default=[0.5, 0.8, 0.9],
                        help="report the training time to these fractions of the teacher's metric")
    parser.add_argument('--work-dir', default='work_dirs/benchmark_generators', help='one sub-folder per run')
    parser.add_argument('--threads', type=int, default=1,
                        help='OMP_NUM_THREADS of each run (default 1: fastest on a busy 2-core machine)')
    parser.add_argument('--collect', action='store_true',
                        help='train nothing: rebuild the table from the <work-dir>/<name>.json of earlier runs '
                             '(CONFIG@RUN_DIR specs are read from RUN_DIR as always)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides applied to every run (no spaces around "=")')
    return parser.parse_args()


def parse_run(spec: str) -> Tuple[str, Optional[int]]:
    """``'CONFIG[:VAL_INTERVAL]'`` -> ``(config, val_interval or None)``."""
    config, sep, interval = spec.rpartition(':')
    if not sep or not interval.isdigit():
        return spec, None
    if int(interval) < 1:
        raise ValueError(f'{spec!r}: the validation interval after ":" must be >= 1 iteration.')
    return config, int(interval)


def run_name(config: str) -> str:
    return osp.splitext(osp.basename(config))[0]


def metric_key(cfg: Config) -> str:
    """The first of :data:`METRIC_KEYS` the config's evaluator produces."""
    evaluator = cfg.val_evaluator
    kind = evaluator.get('type', '') if isinstance(evaluator, dict) else ''
    return 'accuracy/top1' if 'Accuracy' in kind else 'coco/bbox_mAP'


def prepare(config: str, val_interval: Optional[int], args: argparse.Namespace, work_dir: str) -> Tuple[str, Config]:
    """Write the timed copy of ``config`` into ``work_dir``; returns its path and the config."""
    cfg = Config.fromfile(config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    interval = val_interval or int(cfg.train_cfg.get('val_interval', 50))
    cfg = with_train_timer(cfg, interval, args.budget_min * 60)
    cfg.work_dir = work_dir
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, 'config.py')
    cfg.dump(path)
    return path, cfg


def finished_run(spec: str) -> dict:
    """The row of ``CONFIG@RUN_DIR``: the curve a finished run logged with ``TrainTimeHook``."""
    config, _, run_dir = spec.partition('@')
    cfg = Config.fromfile(config)
    key = metric_key(cfg)
    curve = timed_curve(read_scalars(run_dir), key)
    if not curve:
        raise FileNotFoundError(f'{spec}: no validation with train_s in {run_dir}/*/vis_data/scalars.json; '
                                'the run needs TrainTimeHook in its custom_hooks.')
    return dict(name=run_name(config), config=config, generator=cfg.model.generator.type, metric=key, curve=curve,
                run_dir=run_dir, max_iters=int(cfg.train_cfg.max_iters), command=f'(finished run in {run_dir})')


def run_one(spec: str, args: argparse.Namespace) -> dict:
    config, val_interval = parse_run(spec)
    name = run_name(config)
    work_dir = osp.join(args.work_dir, name)
    timed_config, cfg = prepare(config, val_interval, args, work_dir)
    env = {'OMP_NUM_THREADS': str(args.threads)}
    cmd = ['python', 'tools/train.py', timed_config, '--work-dir', work_dir]
    print(f'[benchmark] {name}: {" ".join(f"{k}={v}" for k, v in env.items())} {shlex.join(cmd)}', flush=True)
    start = time.time()
    log_path = osp.join(args.work_dir, f'{name}.log')
    with open(log_path, 'w') as log:
        code = subprocess.call(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - start
    key = metric_key(cfg)
    curve = timed_curve(read_scalars(work_dir), key)
    if code != 0 or not curve:
        print(f'[benchmark] {name} failed (exit {code}) or never validated; see {log_path}', file=sys.stderr)
    return dict(name=name, config=config, generator=cfg.model.generator.type, metric=key, curve=curve,
                wall_s=wall, exit_code=code, budget_min=args.budget_min, val_interval=cfg.train_cfg.val_interval,
                max_iters=int(cfg.train_cfg.max_iters), threads=args.threads,
                command=shlex.join(['python', 'tools/benchmark_generators.py'] + sys.argv[1:]))


def markdown_table(rows: List[dict], teacher: float, targets: Sequence[float]) -> str:
    """One row per run, one time column per target fraction of the teacher's metric.

    A time cell reads ``'12.0 min (4.0x)'``: training minutes to the first validation at or
    above ``target * teacher``, and in brackets the first row's time divided by this row's
    (when both reached it).
    """
    label = 'mAP' if rows and rows[0]['metric'] == 'coco/bbox_mAP' else 'top-1'
    goals = [t * teacher for t in targets]
    lines = ['| generator (config) | ' + f'{label} at the end (iter) | / teacher | training time | '
             + ' | '.join(f'time to {t:g}x teacher ({g:.3f})' for t, g in zip(targets, goals))
             + ' | synthetic images/s |',
             '|---' * (5 + len(targets)) + '|']
    references = [time_to_target(rows[0]['curve'], g) if rows else None for g in goals]
    for row in rows:
        curve = row['curve']
        name = f"{row['generator']} (`{row['config']}`)"
        if not curve:
            lines.append(f'| {name} | failed |' + ' - |' * (3 + len(targets)))
            continue
        last = curve[-1]
        cells = []
        for goal, reference in zip(goals, references):
            reached = time_to_target(curve, goal)
            if reached is None:
                cells.append('not reached')
            elif reference is None or row is rows[0]:
                cells.append(f'{reached / 60:.1f} min')
            else:
                cells.append(f'{reached / 60:.1f} min ({reference / reached:.1f}x)')
        rate = images_per_second(curve)
        lines.append(f"| {name} | {last['metric']:.3f} ({last['iter']}) | {last['metric'] / teacher:.3f} | "
                     f"{last['train_s'] / 60:.1f} min | " + ' | '.join(cells)
                     + f" | {'n/a' if rate is None else f'{rate:.2f}'} |")
    return '\n'.join(lines)


def main() -> None:
    args = parse_args()
    os.chdir(REPO_ROOT)
    os.makedirs(args.work_dir, exist_ok=True)
    rows = []
    for spec in args.runs:
        record = osp.join(args.work_dir, f"{run_name(parse_run(spec.partition('@')[0])[0])}.json")
        if args.collect and '@' not in spec:
            if not osp.isfile(record):
                raise FileNotFoundError(f'--collect: no {record}; run the benchmark for {spec} first')
            with open(record) as f:
                rows.append(json.load(f))
            continue
        rows.append(finished_run(spec) if '@' in spec else run_one(spec, args))
        with open(record, 'w') as f:
            json.dump(rows[-1], f, indent=2)
    first = parse_run(args.runs[0].partition('@')[0])[0]
    teacher = teacher_score(first, osp.join(args.work_dir, 'teacher'), rows[0]['metric'])
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    text = '\n'.join([
        markdown_table(rows, teacher, args.targets), '',
        f'Teacher {teacher:.3f} on the same real val split. Training time excludes validation; synthetic images '
        f'are those drawn from the generator (per iteration one batch, plus one per fresh student batch) per '
        f'second of training. Commit {commit or "unknown"}, {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.'
    ]) + '\n'
    print(text)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(text)
    print(f'[benchmark] table written to {osp.join(args.work_dir, "results.md")}')


if __name__ == '__main__':
    main()
