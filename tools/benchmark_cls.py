"""Benchmark data-free classification distillation on Digits-Cls, one run per generator kind.

    python tools/benchmark_cls.py [--kinds sprite vit conv pixel] [--config CONFIG]
        [--work-dir work_dirs/benchmark_cls] [--out work_dirs/benchmark_cls/results.md]
        [--threads 1] [--cfg-options key=value ...]

For each kind this runs ``tools/train.py`` in a subprocess on the kind's own config
(``KIND_CONFIGS``; ``--config`` runs one config for every kind instead), times it, and reads the
student's top-1 on the REAL val split at the last iteration (not the best one: picking the best
on val would select on the test data). The teacher is scored once on the same split. The markdown
table (student top-1, teacher top-1, student / teacher, wall time, exact command) is printed and
written to ``--out``.

Not a test: each run trains for minutes. Needs the teacher checkpoint that the config names and
``python tools/prepare_data.py digits-cls``.
"""
import argparse
import json
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
import time
from glob import glob
from typing import Dict, List, Optional

from mmdfkd.benchmark import teacher_score

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# One config per generator kind; each inherits the vit one and changes only the generator and its schedule.
KIND_CONFIGS = {
    'sprite': 'configs/dfkd_deit-nano_deit-pico_digits-cls_sprite-gen.py',
    'vit': 'configs/dfkd_deit-nano_deit-pico_digits-cls.py',
    'conv': 'configs/dfkd_deit-nano_deit-pico_digits-cls_conv-gen.py',
    'pixel': 'configs/dfkd_deit-nano_deit-pico_digits-cls_pixel-gen.py',
}
KINDS = tuple(KIND_CONFIGS)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Data-free cls distillation: one run per generator kind')
    parser.add_argument('--config', default=None,
                        help='one data-free cls config for every kind (default: each kind its own, KIND_CONFIGS)')
    parser.add_argument('--kinds', nargs='+', default=list(KINDS), choices=KINDS, help='generator kinds to run')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_cls', help='one sub-folder per kind')
    parser.add_argument('--out', default=None, help='markdown file (default: <work-dir>/results.md)')
    parser.add_argument('--threads', type=int, default=1,
                        help='OMP_NUM_THREADS of each run (default 1: fastest on a busy 2-core machine)')
    parser.add_argument('--collect', action='store_true',
                        help='train nothing: rebuild the table from the <work-dir>/<kind>.json of earlier runs')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value overrides passed to every run (e.g. train_cfg.max_iters=100)')
    return parser.parse_args()


def train_command(args: argparse.Namespace, kind: str) -> List[str]:
    cmd = ['python', 'tools/train.py', args.config or KIND_CONFIGS[kind], '--work-dir', osp.join(args.work_dir, kind)]
    if args.cfg_options:
        cmd += ['--cfg-options'] + list(args.cfg_options)
    return cmd


def shell_line(env: Dict[str, str], cmd: List[str]) -> str:
    return ' '.join([f'{k}={v}' for k, v in env.items()] + [shlex.quote(c) for c in cmd])


def last_val_metrics(work_dir: str, since: float = 0.0) -> Optional[dict]:
    """The last validation entry of the newest run in ``work_dir`` (MMEngine's scalars.json).

    Runs whose scalars were last written before ``since`` (a ``time.time()``) are ignored, so a
    run that failed before validating is not credited with an older run's result. MMEngine logs
    validation of an iteration-based loop with ``step`` 0 (the epoch); the returned entry's
    ``iter`` is the last training step logged before it instead.
    """
    runs = sorted(p for p in glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')) if osp.getmtime(p) >= since)
    if not runs:
        return None
    last, train_step = None, None
    with open(runs[-1]) as f:
        for line in f:
            entry = json.loads(line)
            if 'accuracy/top1' in entry:
                last = dict(entry, iter=train_step)
            elif 'step' in entry:
                train_step = entry['step']
    return last


def max_iters_in_log(log_path: str) -> Optional[int]:
    """``M`` of the ``Iter(train) [n/M]`` lines of a training log, or ``None``."""
    if not osp.isfile(log_path):
        return None
    with open(log_path) as f:
        found = re.findall(r'Iter\(train\) \[\s*\d+/(\d+)\]', f.read())
    return int(found[-1]) if found else None


def main() -> None:
    args = parse_args()
    os.chdir(REPO_ROOT)
    out = args.out or osp.join(args.work_dir, 'results.md')
    rows = []
    for kind in args.kinds:
        record = osp.join(args.work_dir, f'{kind}.json')
        if args.collect:
            if not osp.isfile(record):
                raise FileNotFoundError(f'--collect: no {record}; run the benchmark for {kind} first')
            with open(record) as f:
                rows.append(json.load(f))
            continue
        env = {'OMP_NUM_THREADS': str(args.threads)}
        cmd = train_command(args, kind)
        line = shell_line(env, cmd)
        print(f'[benchmark] {line}', flush=True)
        start = time.time()
        log_path = osp.join(args.work_dir, f'{kind}.log')
        os.makedirs(args.work_dir, exist_ok=True)
        with open(log_path, 'w') as log:
            code = subprocess.call(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        wall = time.time() - start
        metrics = last_val_metrics(osp.join(args.work_dir, kind), since=start)
        if code == 0 and metrics is not None and max_iters_in_log(log_path):
            # The loop validates after its last iteration; the logger may not have printed that one.
            metrics['iter'] = max_iters_in_log(log_path)
        if code != 0 or metrics is None:
            print(f'[benchmark] {kind} failed (exit {code}); see {log_path}', file=sys.stderr)
        print(f'[benchmark] {kind}: top-1 {None if metrics is None else metrics["accuracy/top1"]} '
              f'in {wall / 60:.1f} min', flush=True)
        rows.append(dict(kind=kind, top1=None if metrics is None else metrics['accuracy/top1'],
                         step=None if metrics is None else metrics.get('iter'), wall=wall, command=line))
        with open(record, 'w') as f:
            json.dump(rows[-1], f)
    top1_T = teacher_score(args.config or KIND_CONFIGS['vit'], osp.join(args.work_dir, 'teacher'), 'accuracy/top1')
    table = ['| generator | student top-1 | teacher top-1 | student / teacher | wall time | command |',
             '|---|---|---|---|---|---|']
    for row in rows:
        top1 = 'failed' if row['top1'] is None else f"{100 * row['top1']:.2f}% (iter {row['step']})"
        ratio = '-' if row['top1'] is None else f"{row['top1'] / top1_T:.3f}"
        table.append(f"| {row['kind']} | {top1} | {100 * top1_T:.2f}% | {ratio} | {row['wall'] / 60:.1f} min | "
                     f"`{row['command']}` |")
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    table.append('')
    if args.collect:
        table.append('(Rows collected from earlier runs; the commit below is the one that built the table.)')
    table.append(f'Commit {commit or "unknown"}, {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, '
                 f'OMP_NUM_THREADS={args.threads}; student top-1 at the last iteration, on the real val split.')
    text = '\n'.join(table) + '\n'
    print(text)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        f.write(text)
    print(f'[benchmark] table written to {out}')


if __name__ == '__main__':
    main()
