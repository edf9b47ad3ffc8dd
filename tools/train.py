"""Train a model (a teacher, or a student through data-free distillation).

    python tools/train.py configs/dfkd_vitdet_tiny.py [--work-dir DIR] [--resume [CKPT]]
        [--amp] [--cfg-options key=value ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import os

from mmengine.config import DictAction

from mmdfkd.engine.cli import run_cli
from mmdfkd.engine.launch import apply_resume, build_runner, enable_amp, load_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train an mmdfkd model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: work_dirs/<config name>)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 AmpOptimWrapper on a GPU, bf16 autocast on a CPU with native bf16 '
                             '(AVX512-BF16 or AMX)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CKPT, or from the latest checkpoint in the work dir if no path')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_cfg.max_iters=100 '
                             'model.teacher_ckpt=path.pth (no spaces around "=")')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher for distributed training')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher, check_data=('train', 'val'))
    if args.amp:
        enable_amp(cfg)
    apply_resume(cfg, args.resume)
    build_runner(cfg).train()


if __name__ == '__main__':
    run_cli(main)
