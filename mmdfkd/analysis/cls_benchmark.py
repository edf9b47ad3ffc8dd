"""Data-free classification on Digits-Cls, one run per generator kind and seed, as one table.

Each run is ``tools/train.py`` in a subprocess on the kind's own config
(:data:`KIND_CONFIGS`), with ``randomness.seed`` set per seed. The student's
top-1 is read on the REAL val split at the last iteration (not the best one:
picking the best on val would select on the test data). The teacher is scored
once on the same split. ``tools/benchmark_cls.py`` is the command line.
"""
import json
import os
import os.path as osp
import re
import shlex
import statistics
import subprocess
import sys
import time
from glob import glob
from typing import Dict, List, Optional, Sequence

from .runs import teacher_score

# One config per generator kind; each inherits the vit one and changes only the generator and its schedule.
KIND_CONFIGS = {
    'sprite': 'configs/dfkd_deit-nano_deit-pico_digits-cls_sprite-gen.py',
    'vit': 'configs/dfkd_deit-nano_deit-pico_digits-cls.py',
    'conv': 'configs/dfkd_deit-nano_deit-pico_digits-cls_conv-gen.py',
    'pixel': 'configs/dfkd_deit-nano_deit-pico_digits-cls_pixel-gen.py',
}
KINDS = tuple(KIND_CONFIGS)


def run_label(kind: str, seed: Optional[int]) -> str:
    """``'conv'``, or ``'conv_seed1'`` for a seeded run: its work-dir and record name."""
    return kind if seed is None else f'{kind}_seed{seed}'


def train_command(kind: str, work_dir: str, config: Optional[str] = None, cfg_options: Sequence[str] = (),
                  seed: Optional[int] = None) -> List[str]:
    """``python tools/train.py CONFIG --work-dir <work_dir>/<label> [--cfg-options ... randomness.seed=S]``."""
    options = list(cfg_options) + ([f'randomness.seed={seed}'] if seed is not None else [])
    cmd = ['python', 'tools/train.py', config or KIND_CONFIGS[kind], '--work-dir',
           osp.join(work_dir, run_label(kind, seed))]
    return cmd + (['--cfg-options'] + options if options else [])


def shell_line(env: Dict[str, str], cmd: List[str]) -> str:
    """The command as one shell line, environment first."""
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


def run_one(kind: str, work_dir: str, threads: int, config: Optional[str], cfg_options: Sequence[str],
            seed: Optional[int]) -> dict:
    """Train one kind (and seed); returns its row: ``kind``, ``seed``, ``top1``, ``step``, ``wall``, ``command``."""
    label = run_label(kind, seed)
    env = {'OMP_NUM_THREADS': str(threads)}
    cmd = train_command(kind, work_dir, config, cfg_options, seed)
    line = shell_line(env, cmd)
    print(f'[benchmark] {line}', flush=True)
    start = time.time()
    log_path = osp.join(work_dir, f'{label}.log')
    os.makedirs(work_dir, exist_ok=True)
    with open(log_path, 'w') as log:
        code = subprocess.call(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - start
    metrics = last_val_metrics(osp.join(work_dir, label), since=start)
    if code == 0 and metrics is not None and max_iters_in_log(log_path):
        # The loop validates after its last iteration; the logger may not have printed that one.
        metrics['iter'] = max_iters_in_log(log_path)
    if code != 0 or metrics is None:
        print(f'[benchmark] {label} failed (exit {code}); see {log_path}', file=sys.stderr)
    top1 = None if metrics is None else metrics['accuracy/top1']
    print(f'[benchmark] {label}: top-1 {top1} in {wall / 60:.1f} min', flush=True)
    return dict(kind=kind, seed=seed, top1=top1, step=None if metrics is None else metrics.get('iter'), wall=wall,
                command=line)


def mean_std(values: Sequence[float]) -> str:
    """``'0.969 ± 0.004 (3 seeds)'``, or the single value labelled as one run."""
    if len(values) == 1:
        return f'{values[0]:.3f} (single run)'
    return f'{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} ({len(values)} seeds)'


def markdown_table(rows: Sequence[dict], teacher_top1: float) -> str:
    """One line per kind: student top-1 and student / teacher as mean ± std over its seeds."""
    lines = ['| generator | student top-1 | teacher top-1 | student / teacher | wall time per run | runs |',
             '|---|---|---|---|---|---|']
    for kind in dict.fromkeys(row['kind'] for row in rows):
        runs = [row for row in rows if row['kind'] == kind]
        done = [row['top1'] for row in runs if row['top1'] is not None]
        failed = len(runs) - len(done)
        top1 = mean_std(done) if done else 'failed'
        ratio = mean_std([t / teacher_top1 for t in done]) if done else '-'
        wall = statistics.mean(row['wall'] for row in runs) / 60
        commands = '<br>'.join(f"`{row['command']}`" for row in runs)
        lines.append(f'| {kind} | {top1}{f" ({failed} failed)" if failed else ""} | {teacher_top1:.4f} | {ratio} | '
                     f'{wall:.1f} min | {commands} |')
    return '\n'.join(lines)


def benchmark_cls(kinds: Sequence[str], work_dir: str, seeds: Sequence[Optional[int]] = (None, ), threads: int = 1,
                  config: Optional[str] = None, cfg_options: Sequence[str] = (), collect: bool = False) -> str:
    """Run (or collect) every kind and seed, score the teacher, write and return the table.

    Args:
        kinds (Sequence[str]): keys of :data:`KIND_CONFIGS`.
        work_dir (str): one sub-folder and one ``<label>.json`` record per run, and ``results.md``.
        seeds (Sequence[int | None]): ``randomness.seed`` of each run per kind; ``None``
            keeps the config's seed.
        threads (int): ``OMP_NUM_THREADS`` of each run.
        config (str, optional): one config for every kind instead of :data:`KIND_CONFIGS`.
        cfg_options (Sequence[str]): ``key=value`` overrides for every run.
        collect (bool): train nothing; rebuild the table from the records.
    """
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f'Unknown generator kinds {unknown}; choose from {list(KINDS)}.')
    rows = []
    for kind in kinds:
        for seed in seeds:
            record = osp.join(work_dir, f'{run_label(kind, seed)}.json')
            if collect:
                if not osp.isfile(record):
                    raise FileNotFoundError(f'--collect: no {record}; run the benchmark for {kind} first')
                with open(record) as f:
                    rows.append(json.load(f))
                continue
            rows.append(run_one(kind, work_dir, threads, config, cfg_options, seed))
            with open(record, 'w') as f:
                json.dump(rows[-1], f)
    top1_T = teacher_score(config or KIND_CONFIGS['vit'], osp.join(work_dir, 'teacher'), 'accuracy/top1')
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    notes = ['(Rows collected from earlier runs; the commit below is the one that built the table.)'] if collect else []
    text = '\n'.join([markdown_table(rows, top1_T), ''] + notes + [
        f'Commit {commit or "unknown"}, {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, '
        f'OMP_NUM_THREADS={threads}; student top-1 at the last iteration, on the real val split.']) + '\n'
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(text)
    return text
