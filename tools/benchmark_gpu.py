"""Time full-size data-free distillation iterations and their peak GPU memory.

    python tools/benchmark_gpu.py [configs/dfkd_vitdet-b-mask-rcnn_vit-s_coco.py] [--iters 5] [--warmup 2]
        [--random-teacher] [--cfg-options k=v ...]

On one GPU, builds the config's distiller at its own sizes (1024 px for the COCO config), runs
``--warmup`` untimed then ``--iters`` timed ``train_step``s on the config's synthetic batch, and
prints a table: seconds per iteration (median, min, max), synthetic images per second, and
``torch.cuda.max_memory_allocated`` after the build, after the first iteration and over all.
``--random-teacher`` saves the built teacher's random weights to a temporary file instead of
reading ``model.teacher.checkpoint`` (timing does not depend on the weights).
Refuses to run without a CUDA GPU: a CPU cannot run full-size iterations in useful time.
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

DEFAULT_CONFIG = 'configs/dfkd_vitdet-b-mask-rcnn_vit-s_coco.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Full-size distillation iterations: time and peak GPU memory')
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG, help=f'default: {DEFAULT_CONFIG}')
    parser.add_argument('--iters', type=int, default=5, help='timed iterations (default: 5)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed iterations first (default: 2)')
    parser.add_argument('--random-teacher', action='store_true',
                        help="the teacher's random weights instead of model.teacher.checkpoint")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.generator_steps=10')
    return parser.parse_args()


def gib(num_bytes: int) -> str:
    return f'{num_bytes / 2**30:.2f} GiB'


def random_teacher_checkpoint(cfg: Config, folder: str) -> str:
    """Save the teacher config's freshly built model and return the file (timing needs no trained weights)."""
    from mmdfkd.registry import MODELS
    teacher = cfg.model.teacher
    if 'config' in teacher:
        teacher_cfg = Config.fromfile(teacher.config)
        teacher_cfg.merge_from_dict(dict(teacher.get('cfg_options') or {}))
        model_cfg = teacher_cfg.model
    else:
        model_cfg = teacher.model
    model_cfg.get('backbone', {}).pop('init_cfg', None)  # no pretrained file needed
    path = osp.join(folder, 'random_teacher.pth')
    torch.save({'state_dict': MODELS.build(model_cfg).state_dict()}, path)
    return path


def main() -> None:
    args = parse_args()
    if not torch.cuda.is_available():
        sys.exit('benchmark_gpu: no CUDA GPU is visible (torch.cuda.is_available() is False). Full-size '
                 'iterations need one; run this on a GPU machine, or time tiny configs on CPU with '
                 'tools/benchmark_overhead.py.')
    init_default_scope('mmdfkd')
    from mmdfkd.registry import MODELS
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    with tempfile.TemporaryDirectory() as folder:
        if args.random_teacher:
            cfg.model.teacher.checkpoint = random_teacher_checkpoint(cfg, folder)
        model = MODELS.build(cfg.model).cuda()
        model.init_weights()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    batch_size = cfg.train_dataloader.batch_size
    batch = dict(index=list(range(batch_size)))
    device = torch.cuda.get_device_name()
    after_build = torch.cuda.max_memory_allocated()

    times = []
    for i in range(args.warmup + args.iters):
        torch.cuda.synchronize()
        start = time.perf_counter()
        model.train_step(batch, optim)
        torch.cuda.synchronize()
        if i == 0:
            after_first = torch.cuda.max_memory_allocated()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated()

    med = statistics.median(times)
    rows = [
        ('config', args.config),
        ('device', device),
        ('image size', str(cfg.model.generator.get('img_size'))),
        ('batch / generator steps / student steps',
         f'{batch_size} / {cfg.model.get("generator_steps", 1)} / {cfg.model.get("student_steps", 1)}'),
        ('timed iterations (after warm-up)', f'{len(times)} (after {args.warmup})'),
        ('s / iteration: median (min - max)', f'{med:.3f} ({min(times):.3f} - {max(times):.3f})'),
        ('synthetic images / s', f'{batch_size / med:.2f}'),
        ('max_memory_allocated after build', gib(after_build)),
        ('max_memory_allocated after iteration 1', gib(after_first)),
        ('max_memory_allocated overall', gib(peak)),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f'{key:<{width}}  {value}')


if __name__ == '__main__':
    main()
