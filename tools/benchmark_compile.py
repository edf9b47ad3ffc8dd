"""Does torch.compile, channels_last or fused attention pay for a data-free config's networks here?

    OMP_NUM_THREADS=1 python tools/benchmark_compile.py configs/dfkd_vitdet_tiny_fast.py [--batch 16] [--repeats 5]
        [--fp32] [--model student|teacher] [--kinds eager fused_attention channels_last compile]

Times the student's (or, with ``--model teacher``, the teacher's, random weights) forward +
backward (the detector's features and head; the losses are not compiled) on random images of the
generator's size: eagerly; with PyTorch's ``scaled_dot_product_attention`` in a ViT backbone
(``attention='fused'``, where eager is the default ``'auto'``: explicit on a CPU); with
channels_last weights and inputs; and under ``torch.compile``. The kinds are interleaved after two
warm-up steps each, and the median of ``--repeats`` is printed, with the time ``torch.compile``
took to compile.
Steps run under bf16 autocast unless ``--fp32``. A model that wins here pays for itself only if
the steps it saves outweigh its compile time over a whole run.

Not a test: compiling takes minutes.
"""
import argparse
import copy
import time

import torch
from mmengine.registry import init_default_scope

from mmdfkd.apis import load_distiller_config
from mmdfkd.engine.cli import run_cli
from mmdfkd.models.distiller import resolved_student_config, teacher_model_config
from mmdfkd.registry import MODELS

KINDS = ('eager', 'fused_attention', 'channels_last', 'compile')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time a data-free config's student: eager, channels_last, compile")
    parser.add_argument('config', help='a data-free detection config (configs/dfkd_*.py)')
    parser.add_argument('--batch', type=int, default=16, help='images per step (default 16)')
    parser.add_argument('--repeats', type=int, default=5, help='timed steps per variant (default 5)')
    parser.add_argument('--fp32', action='store_true', help='time fp32 steps instead of bf16 autocast')
    parser.add_argument('--model', choices=('student', 'teacher'), default='student',
                        help="which network to time (default: student; the teacher's weights stay random)")
    parser.add_argument('--kinds', nargs='+', choices=KINDS, default=list(KINDS),
                        help='what to time (default: all); eager is always timed, as the reference')
    return parser.parse_args()


def network_step(model_cfg, kind: str, images: torch.Tensor, bf16: bool):
    """A closure running one forward + backward of a fresh detector built from ``model_cfg`` the ``kind`` way."""
    model_cfg = copy.deepcopy(model_cfg)
    if kind == 'fused_attention':
        backbone = model_cfg['backbone'].get('type')
        if backbone != 'ViT':
            raise ValueError(f"fused_attention times mmdfkd's ViT backbone; this one is {backbone}.")
        model_cfg['backbone']['attention'] = 'fused'
    model = MODELS.build(model_cfg).train()
    if kind == 'channels_last':
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)

    def forward(inputs):
        return model.bbox_head(model.extract_feat(inputs))

    run = torch.compile(forward) if kind == 'compile' else forward

    def step() -> None:
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            outputs = run(images)
            loss = sum(level.float().pow(2).mean() for per_level in outputs for level in per_level)
        loss.backward()
    return step


def main() -> None:
    args = parse_args()
    cfg = load_distiller_config(args.config)
    if cfg.model.get('task', 'det') != 'det':
        raise ValueError(f'{args.config} is a {cfg.model.task!r} config; this tool times detection students.')
    init_default_scope(cfg.get('default_scope', 'mmdfkd'))
    torch.manual_seed(0)
    size = cfg.model.generator.img_size
    height, width = (size, size) if isinstance(size, int) else size
    images = torch.randn(args.batch, 3, height, width)
    model_cfg = (resolved_student_config(cfg.model.to_dict()) if args.model == 'student' else
                 teacher_model_config(cfg.model.teacher).to_dict())
    kinds = ['eager'] + [k for k in KINDS if k in args.kinds and k != 'eager']
    steps, times = {}, {kind: [] for kind in kinds}
    for kind in kinds:
        start = time.perf_counter()
        steps[kind] = network_step(model_cfg, kind, images, not args.fp32)
        steps[kind]()
        steps[kind]()
        print(f'[compile] {kind}: built and 2 warm-up steps in {time.perf_counter() - start:.1f} s', flush=True)
    for _ in range(args.repeats):
        for kind, step in steps.items():
            start = time.perf_counter()
            step()
            times[kind].append(time.perf_counter() - start)
    eager = sorted(times['eager'])[args.repeats // 2]
    print(f'\n{args.model}, {torch.get_num_threads()} thread(s), batch {args.batch}, {height}x{width}, '
          f'{"fp32" if args.fp32 else "bf16 autocast"}; median of {args.repeats}:\n')
    print(f'| {args.model} step | forward + backward | vs eager |\n|---|---|---|')
    for kind in kinds:
        median = sorted(times[kind])[args.repeats // 2]
        print(f'| {kind} | {median * 1e3:.0f} ms | {median / eager:.2f}x |')


if __name__ == '__main__':
    run_cli(main)
