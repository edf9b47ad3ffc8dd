"""Benchmark data-free classification distillation on Digits-Cls, one run per generator kind and seed.

    python tools/benchmark_cls.py [--kinds sprite vit conv pixel] [--seeds 0 1 2] [--config CONFIG]
        [--work-dir work_dirs/benchmark_cls] [--threads 1] [--collect] [--cfg-options key=value ...]

Each kind trains its own config (``mmdfkd.analysis.cls_benchmark.KIND_CONFIGS``; ``--config``
runs one config for every kind instead) with ``randomness.seed`` set to each ``--seeds`` value,
and the table (student top-1 and student / teacher as mean ± std over the seeds, wall time,
the exact commands) is printed and written to ``<work-dir>/results.md``.

Not a test: each run trains for minutes. Needs the teacher checkpoint that the configs name and
``python tools/prepare_data.py digits-cls``.
"""
import argparse
import os
import os.path as osp

from mmdfkd.analysis.cls_benchmark import KINDS, benchmark_cls
from mmdfkd.engine.cli import run_cli

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Data-free cls distillation: one run per generator kind and seed')
    parser.add_argument('--config', default=None,
                        help='one data-free cls config for every kind (default: each kind its own config)')
    parser.add_argument('--kinds', nargs='+', default=list(KINDS), choices=KINDS, help='generator kinds to run')
    parser.add_argument('--seeds', nargs='+', type=int, default=None,
                        help='randomness.seed of each run per kind, e.g. 0 1 2 (default: the config\'s seed, one run)')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_cls', help='one sub-folder per run')
    parser.add_argument('--threads', type=int, default=1,
                        help='OMP_NUM_THREADS of each run (default 1: fastest on a busy 2-core machine)')
    parser.add_argument('--collect', action='store_true',
                        help='train nothing: rebuild the table from the <work-dir>/<run>.json of earlier runs')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value overrides passed to every run (e.g. train_cfg.max_iters=100)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    os.chdir(REPO_ROOT)
    text = benchmark_cls(args.kinds, args.work_dir, args.seeds or [None], args.threads, args.config,
                         args.cfg_options, args.collect)
    print(text)
    print(f'[benchmark] table written to {osp.join(args.work_dir, "results.md")}')


if __name__ == '__main__':
    run_cli(main)
