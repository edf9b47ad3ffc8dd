"""Teacher vs student of a distillation config: parameters, FLOPs and CPU latency.

    python tools/benchmark_latency.py configs/dfkd_vitdet_tiny.py [--repeats 30] [--warmup 5] [--threads 1]
        [--input-size H W] [--out latency.json] [--cfg-options k=v ...]

Batch 1, the network alone (normalised image to raw head outputs / logits), both
models timed in turns on the same input; prints medians and student / teacher.
"""
import argparse
import json

from mmengine.config import DictAction

from mmdfkd.analysis import latency_report
from mmdfkd.apis import load_distiller_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Teacher vs student CPU latency, params and FLOPs')
    parser.add_argument('config', help='a data-free distillation config (configs/dfkd_*.py)')
    parser.add_argument('--repeats', type=int, default=30, help='timed runs per model (default: 30)')
    parser.add_argument('--warmup', type=int, default=5, help='untimed runs per model first (default: 5)')
    parser.add_argument('--threads', type=int, default=1, help='torch intra-op threads (default: 1)')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: the generator\'s img_size)')
    parser.add_argument('--out', help='also write the report as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_distiller_config(args.config, args.cfg_options)
    report = latency_report(cfg, args.repeats, args.warmup, args.threads, args.input_size)
    print(f'input {report["input_size"]}, batch 1, {report["threads"]} thread(s), median of {report["repeats"]} '
          f'runs after {report["warmup"]} warm-up runs')
    print('| model | params | GFLOPs | CPU latency (ms) |')
    print('|---|---|---|---|')
    for name in ('teacher', 'student'):
        row = report[name]
        print(f'| {name} | {row["params"] / 1e6:.3f} M | {row["flops"] / 1e9:.3f} | {row["latency_ms"]:.2f} |')
    fastest = report['student']['latency_min_ms'] / report['teacher']['latency_min_ms']
    print(f'fastest runs: teacher {report["teacher"]["latency_min_ms"]:.2f} ms, student '
          f'{report["student"]["latency_min_ms"]:.2f} ms, ratio {fastest:.3f} (less sensitive to other load)')
    print(f'student / teacher: latency {report["latency_ratio"]:.3f} (goal <= 0.30), params '
          f'{report["params_ratio"]:.3f}, FLOPs {report["flops_ratio"]:.3f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)


if __name__ == '__main__':
    main()
