"""Compare synthetic-image generators: quality reached, time to a fraction of the teacher, images per second.

    python tools/benchmark_generators.py [--runs CONFIG[:VAL_INTERVAL][@RUN_DIR] ...] [--budget-min 30] [--seeds 0 1 2]
        [--targets 0.5 0.8 0.9] [--work-dir work_dirs/benchmark_generators] [--threads 1] [--jobs 1] [--collect]
        [--cfg-options key=value ...]

Each run is ``tools/train.py`` in a subprocess on a copy of CONFIG that validates every
VAL_INTERVAL iterations and logs, with every validation, the seconds of training so far
(validation time excluded) and the synthetic images drawn (``TrainTimeHook``). A run ends at its
``max_iters`` or at the first validation past ``--budget-min`` minutes of training, whichever
comes first. The teacher is scored once on the same real val split. The markdown table (metric at
the end, metric at ``--budget-min`` minutes of training, the equal-budget comparison whatever each
run's schedule, training time to each ``--targets`` fraction of the teacher's metric with the
speed-up against the first run, synthetic images per second) is printed and written to
``<work-dir>/results.md``; every run's curve goes to ``<work-dir>/<name>.json``.
``CONFIG@RUN_DIR`` trains nothing: it reads the curve of a
finished run of CONFIG in RUN_DIR (one that logged with ``TrainTimeHook``, e.g. the headline's
``tools/train.py`` or ``tools/run_pipeline.py`` distill stage); its seed is read from the config it
dumped, several ``@RUN_DIR`` of one config give a mean ± std row, and a ``*`` marks what was read
off its subset validations.

Not a test: each run trains for up to the budget. Needs the teacher checkpoints the configs name.
"""
import argparse
import os
import os.path as osp
import shlex
import sys

from mmengine.config import DictAction

from mmdfkd.analysis.generator_comparison import compare_generators
from mmdfkd.engine.cli import run_cli

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_RUNS = ('configs/dfkd_vitdet-tiny_vit-pico_digits-det_pixel-gen.py:10',
                'configs/dfkd_vitdet-tiny_vit-pico_digits-det_conv-gen.py:40',
                'configs/dfkd_vitdet-tiny_vit-pico_digits-det_vit-gen.py:40', 'configs/dfkd_vitdet_tiny.py:50')

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Compare data-free generators: quality over training time')
    parser.add_argument('--runs', nargs='+', default=list(DEFAULT_RUNS),
                        help='CONFIG[:VAL_INTERVAL] per run, or CONFIG@RUN_DIR to read a finished run; the first is '
                             'the reference for the speed-up '
                             f'(default: {" ".join(DEFAULT_RUNS)})')
    parser.add_argument('--budget-min', type=float, default=30.0,
                        help='stop a run at the first validation past this many minutes of training; the table gives '
                             'every run\'s metric at this much training (the equal budget)')
    parser.add_argument('--targets', type=float, nargs='+', default=[0.5, 0.8, 0.9],
                        help="report the training time to these fractions of the teacher's metric")
    parser.add_argument('--work-dir', default='work_dirs/benchmark_generators', help='one sub-folder per run')
    parser.add_argument('--threads', type=int, default=1,
                        help='OMP_NUM_THREADS of each run (default 1: fastest on a busy 2-core machine)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs trained at once (default 1); --jobs 2 --threads 1 trains two side by side, so that '
                             'their times compare on a 2-core machine')
    parser.add_argument('--collect', action='store_true',
                        help='train nothing: rebuild the table from the <work-dir>/<name>.json of earlier runs '
                             '(CONFIG@RUN_DIR specs are read from RUN_DIR as always)')
    parser.add_argument('--seeds', nargs='+', type=int, default=None,
                        help='train each config once per seed (randomness.seed), e.g. 0 1 2; the table then gives '
                             'mean ± std (default: the config\'s seed, one run)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides applied to every run (no spaces around "=")')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    os.chdir(REPO_ROOT)
    text = compare_generators(args.runs, args.work_dir, args.budget_min, args.targets, args.threads, args.collect,
                              args.cfg_options, shlex.join(['python', 'tools/benchmark_generators.py'] + sys.argv[1:]),
                              seeds=args.seeds or [None], jobs=args.jobs)
    print(text)
    print(f'[benchmark] table written to {osp.join(args.work_dir, "results.md")}')


if __name__ == '__main__':
    run_cli(main)
