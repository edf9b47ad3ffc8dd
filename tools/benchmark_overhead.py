"""MMEngine overhead of a data-free distillation iteration.

    python tools/benchmark_overhead.py configs/dfkd_vitdet_tiny.py [--steps 10] [--warmup 2] [--threads 1]
        [--work-dir work_dirs/overhead_<config>] [--out overhead.json] [--cfg-options k=v ...]

Runs the config's Runner (train loop, hooks, dataloader, the distiller's train_step
with its OptimWrapperDict) and, after each of its iterations, the same iteration
written in plain PyTorch (same modules, batch and losses; torch.optim optimizers).
Prints the medians and runner / plain (goal <= 1.10).
"""
import argparse
import json
import os.path as osp

from mmengine.config import DictAction

from mmdfkd.analysis import benchmark_overhead
from mmdfkd.apis import load_distiller_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Runner vs plain PyTorch time of one distillation iteration')
    parser.add_argument('config', help='a data-free distillation config (configs/dfkd_*.py)')
    parser.add_argument('--steps', type=int, default=10, help='timed iterations of each (default: 10)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed iterations first (default: 2)')
    parser.add_argument('--threads', type=int, default=1, help='torch intra-op threads (default: 1)')
    parser.add_argument('--work-dir', help='Runner work dir (default: work_dirs/overhead_<config name>)')
    parser.add_argument('--out', help='also write the result as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.generator_steps=2')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_distiller_config(args.config, args.cfg_options)
    work_dir = args.work_dir or osp.join('work_dirs', 'overhead_' + osp.splitext(osp.basename(args.config))[0])
    result = benchmark_overhead(cfg, args.steps, args.warmup, args.threads, work_dir)
    print(f'{result["steps"]} iterations after {result["warmup"]} warm-up, batch {result["batch_size"]}, '
          f'{result["threads"]} thread(s)')
    print(f'MMEngine Runner: median {result["runner_ms"]:.1f} ms / iteration')
    print(f'plain PyTorch:   median {result["plain_ms"]:.1f} ms / iteration')
    print(f'ratio runner / plain: {result["ratio"]:.3f} (goal <= 1.10)')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)


if __name__ == '__main__':
    main()
