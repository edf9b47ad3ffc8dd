"""The main job: data, teacher, data-free distillation, evaluation on real val data, costs, report.

    python tools/run_pipeline.py [--task det|cls] [--config CONFIG] [--work-dir work_dirs/pipeline_<task>]
        [--quick [--quick-iters 4]] [--baselines] [--threads 1] [--latency-repeats 30]
        [--cfg-options key=value ...]

Writes results.json, student_metric_vs_iter.png, synthetic_grid.png and
teacher_vs_student.png in the work dir, and prints one markdown table.
See mmdfkd/apis/pipeline.py for what each stage does.
"""
import argparse

from mmengine.config import DictAction

from mmdfkd.apis import run_pipeline
from mmdfkd.engine.cli import run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Data-free distillation, end to end')
    parser.add_argument('--task', choices=['det', 'cls'], default='det', help='default: det')
    parser.add_argument('--config', help='data-free distillation config (default: configs/dfkd_vitdet_tiny.py '
                                         'for det, configs/dfkd_deit-nano_deit-pico_digits-cls.py for cls)')
    parser.add_argument('--work-dir', help='default: work_dirs/pipeline_<task>')
    parser.add_argument('--quick', action='store_true',
                        help='shrink every training stage to --quick-iters iterations (checks the path; '
                             'its numbers are not results)')
    parser.add_argument('--quick-iters', type=int, default=4, help='iterations per training stage with --quick')
    parser.add_argument('--baselines', action='store_true',
                        help='also train (a) the student on real data without a teacher and (b) the student '
                             'distilled on real images, with the same number of student updates')
    parser.add_argument('--threads', type=int, default=1, help='torch threads for the latency timing (default: 1)')
    parser.add_argument('--latency-repeats', type=int, default=30, help='timed runs per model (default: 30)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override entries of the distillation config (no spaces around "=")')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    results = run_pipeline(args.task, args.config, args.work_dir, args.quick, args.baselines, args.quick_iters,
                           args.threads, args.latency_repeats, cfg_options=args.cfg_options)
    lat = results['latency']
    print()
    print(results['table'])
    print()
    print(f'CPU latency: batch 1, {lat["input_size"][0]}x{lat["input_size"][1]}, {lat["threads"]} thread(s), median '
          f'of {lat["repeats"]} interleaved runs after {lat["warmup"]} warm-up; student / teacher = '
          f'{results["latency_ratio"]:.3f}; params {results["params_ratio"]:.3f}; FLOPs {results["flops_ratio"]:.3f}')
    print(f'total wall time {results["wall_s"]:.1f} s' + (' (--quick: not a result)' if results['quick'] else ''))
    print(f'wrote {results["work_dir"]}/results.json and ' + ', '.join(sorted(results['plots'].values())))


if __name__ == '__main__':
    run_cli(main)
