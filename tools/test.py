"""Evaluate a checkpoint on the config's test split.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--cfg-options key=value ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.evaluator import DumpResults

from mmdfkd.engine.cli import run_cli
from mmdfkd.engine.launch import build_runner, load_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test an mmdfkd model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the evaluation log goes')
    parser.add_argument('--out', help='also dump the raw predictions to this .pkl file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. test_dataloader.dataset.data_root=DIR')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher for distributed testing')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'Checkpoint {args.checkpoint!r} does not exist; train one with '
                         f'`python tools/train.py {args.config}` first.')
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher, check_data=('test', ))
    cfg.load_from = args.checkpoint
    runner = build_runner(cfg)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit('--out must end in .pkl or .pickle')
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    run_cli(main)
