"""Write synthetic images of a data-free run, annotated with what the teacher sees.

    python tools/browse_synthetic.py CONFIG CKPT --num N --out DIR [--score-thr 0.3] [--topk 3]
        [--seed 0] [--scale S] [--batch-size B] [--device cpu] [--cfg-options key=value ...]

Builds the distiller of CONFIG (the teacher from the checkpoint CONFIG names), loads
CKPT (a tools/train.py checkpoint) into it, synthesises N images (with layouts from the
distiller's layout sampler, drawn in red) and writes DIR/<index>.png with the teacher's
detections in green (detection), or DIR/<index>_<class>-<score>_....png with its top-k
classes (classification), plus DIR/index.json. A pixel-bank generator only holds the
last batch it optimised: that batch is written.
"""
import argparse

from mmengine.config import DictAction

from mmdfkd.engine.cli import run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Browse the synthetic images of a data-free checkpoint')
    parser.add_argument('config', help='the data-free distillation config (configs/dfkd_*.py)')
    parser.add_argument('checkpoint', help='its checkpoint from tools/train.py')
    parser.add_argument('--num', type=int, default=16, help='images to synthesise')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--score-thr', type=float, default=0.3, help='detection: draw boxes scoring above this')
    parser.add_argument('--topk', type=int, default=3, help='classification: classes written per image')
    parser.add_argument('--seed', type=int, default=0, help='torch seed of latents and layouts')
    parser.add_argument('--scale', type=int, help='upscale the PNGs (default: longer side >= 256 px)')
    parser.add_argument('--batch-size', type=int, default=16, help='images per generator call')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override CONFIG entries, e.g. model.teacher.checkpoint=PATH')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from mmdfkd.apis import browse_synthetic
    try:
        result = browse_synthetic(args.config, args.checkpoint, args.out, num=args.num, score_thr=args.score_thr,
                                  topk=args.topk, batch_size=args.batch_size, seed=args.seed, scale=args.scale,
                                  cfg_options=args.cfg_options, device=args.device)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise SystemExit(f'browse_synthetic: {err}')
    print(result['note'])
    print(f'wrote {len(result["files"])} PNGs and index.json to {args.out}')


if __name__ == '__main__':
    run_cli(main)
