"""Where the time of a data-free run goes: each phase's share of an iteration, FLOPs and the roofline.

    OMP_NUM_THREADS=1 python tools/analyze_cost.py configs/dfkd_vitdet_tiny.py [--iters 5] [--warmup 1]
        [--threads 1] [--val-batches 5 | --skip-val] [--random-teacher] [--matmul-size 1024]
        [--cfg-options k=v ...] [--out cost.json]

Runs the config's own iteration (DataFreeDistiller.run_iteration, plain torch.optim optimizers,
no Runner, no warm-up iterations of the config) --iters times after --warmup, and splits each
into synthesis, the generator step, teacher forwards in the student steps, student forward and
backward, pseudo-label decoding, optimizer steps and the rest; then times the first
--val-batches batches of the val dataloader (0: all) and one checkpoint save, amortised over
their intervals in the config. FLOPs per phase and network come from mmengine.analysis; GFLOP/s
are compared with an fp32 matmul measured in the same process (mmdfkd.analysis.breakdown).
--random-teacher measures without the teacher's checkpoint.
"""
import argparse
import json

from mmengine.config import DictAction

from mmdfkd.analysis.breakdown import cost_breakdown, format_breakdown
from mmdfkd.apis import load_distiller_config
from mmdfkd.engine.cli import run_cli
from mmdfkd.engine.launch import apply_config_amp, enable_amp


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Cost breakdown of a data-free distillation iteration')
    parser.add_argument('config', help='a data-free distillation config (configs/dfkd_*.py)')
    parser.add_argument('--iters', type=int, default=5, help='timed iterations (default: 5)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed iterations first (default: 1)')
    parser.add_argument('--threads', type=int, default=1, help='torch intra-op threads (default: 1)')
    val = parser.add_mutually_exclusive_group()
    val.add_argument('--val-batches', type=int, default=5,
                     help='val batches to time, extrapolated to the full pass; 0 times the full pass (default: 5)')
    val.add_argument('--skip-val', action='store_true', help='time no validation (e.g. without the val data)')
    parser.add_argument('--random-teacher', action='store_true',
                        help='build the teacher without loading its checkpoint (random weights, the same work)')
    parser.add_argument('--matmul-size', type=int, default=1024, help='side of the peak fp32 matmul (default: 1024)')
    parser.add_argument('--out', help='also write the result as JSON here')
    parser.add_argument('--amp', action='store_true',
                        help='time bf16 autocast steps, as tools/train.py --amp runs them on a bf16 CPU')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.student_steps=2')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_distiller_config(args.config, args.cfg_options)
    apply_config_amp(cfg)  # a config's amp='auto' / True, as tools/train.py honours it
    if args.amp:
        enable_amp(cfg)
    result = cost_breakdown(cfg, args.iters, args.warmup, args.threads, args.val_batches, args.skip_val,
                            args.random_teacher, args.matmul_size, log=lambda line: print(line, flush=True))
    print(f'\nCost breakdown of {args.config}:\n')
    print(format_breakdown(result))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'[cost] written to {args.out}')


if __name__ == '__main__':
    run_cli(main)
