"""bf16 autocast against fp32 on this CPU for a data-free config: iteration time and teacher output error.

    python tools/benchmark_bf16.py configs/dfkd_vitdet_tiny.py [--iters 3] [--warmup 1] [--threads 1]
        [--cfg-options model.teacher.checkpoint=PATH ...]

Two copies of the distiller take turns (fp32, bf16, fp32, ...), so both see the same machine
load. Needs a CPU with native bf16 (avx512_bf16 or amx_bf16). The teacher's weights barely change
the work: a randomly initialised checkpoint is fine for timing, not for the error figures.
"""
import argparse

from mmengine.config import DictAction

from mmdfkd.analysis.precision import compare_bf16
from mmdfkd.apis import load_distiller_config
from mmdfkd.engine.cli import run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='bf16 vs fp32 time of one distillation iteration on this CPU')
    parser.add_argument('config', help='a data-free distillation config (configs/dfkd_*.py)')
    parser.add_argument('--iters', type=int, default=3, help='timed iterations of each (default: 3)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed iterations first (default: 1)')
    parser.add_argument('--threads', type=int, default=1, help='torch intra-op threads (default: 1)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    result = compare_bf16(load_distiller_config(args.config, args.cfg_options), args.iters, args.warmup, args.threads)
    print(f'{result["iters"]} iterations after {result["warmup"]} warm-up, batch {result["batch_size"]}, '
          f'{result["threads"]} thread(s)')
    print(f'fp32 {result["fp32_s"]:.2f} s / iteration, bf16 {result["bf16_s"]:.2f} s: ratio {result["ratio"]:.3f}')
    for name, errors in result['teacher_rel_err'].items():
        print(f'teacher {name}: max |bf16 - fp32| / max |fp32| per level: ' + ', '.join(f'{e:.4f}' for e in errors))
    print(f'teacher class probabilities: largest difference {result["prob_abs_err"]:.4f}')


if __name__ == '__main__':
    run_cli(main)
