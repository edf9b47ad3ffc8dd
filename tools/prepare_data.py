"""Build the bundled benchmarks from data that registry packages ship (no download).

    python tools/prepare_data.py digits-det [--out data/digits-det] [--num-train 3000] [--num-val 500] [--seed 0]
    python tools/prepare_data.py digits-cls [--out data/digits-cls] [--size 32] [--seed 0]
    python tools/prepare_data.py glyphs-det [--out data/glyphs-det] [--num-train 3000] [--num-val 500] [--seed 0]
    python tools/prepare_data.py glyphs-cls [--out data/glyphs-cls] [--num-train 12000] [--num-val 1000] [--seed 0]

Digits: scikit-learn's handwritten digits (mmdfkd/datasets/digits.py). Glyphs: letters from matplotlib's
fonts on scikit-learn's and matplotlib's sample photographs (mmdfkd/datasets/glyphs.py).
"""
import argparse

from mmdfkd.datasets.digits import build_digits_cls, build_digits_det
from mmdfkd.datasets.glyphs import build_glyphs_cls, build_glyphs_det
from mmdfkd.engine.cli import run_cli


def _common(parser: argparse.ArgumentParser, name: str, num_train: int, num_val: int) -> None:
    parser.add_argument('--out', default=f'data/{name}', help=f'output folder (default: data/{name})')
    parser.add_argument('--num-train', type=int, default=num_train, help=f'train images (default: {num_train})')
    parser.add_argument('--num-val', type=int, default=num_val, help=f'val images (default: {num_val})')
    parser.add_argument('--seed', type=int, default=0, help='seed of the split and the rendering (default: 0)')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Build the bundled benchmarks (Digits-*, Glyphs-*)')
    sub = parser.add_subparsers(dest='dataset', required=True)
    _common(sub.add_parser('digits-det', help='COCO-format 128x128 images with 1-4 handwritten digits each'),
            'digits-det', 3000, 500)
    cls = sub.add_parser('digits-cls', help='one upsampled image per source digit')
    cls.add_argument('--out', default='data/digits-cls', help='output folder (default: data/digits-cls)')
    cls.add_argument('--size', type=int, default=32, help='image side in pixels (default: 32)')
    cls.add_argument('--seed', type=int, default=0, help='seed of the source split (default: 0)')
    _common(sub.add_parser('glyphs-det', help='COCO-format 160x160 photographs with 1-8 translucent letters each'),
            'glyphs-det', 3000, 500)
    _common(sub.add_parser('glyphs-cls', help='40x40 photographs with one translucent letter each'),
            'glyphs-cls', 12000, 1000)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.dataset == 'digits-det':
        ann_files = build_digits_det(args.out, num_train=args.num_train, num_val=args.num_val, seed=args.seed)
    elif args.dataset == 'digits-cls':
        ann_files = build_digits_cls(args.out, seed=args.seed, size=args.size)
    elif args.dataset == 'glyphs-det':
        ann_files = build_glyphs_det(args.out, num_train=args.num_train, num_val=args.num_val, seed=args.seed)
    else:
        ann_files = build_glyphs_cls(args.out, num_train=args.num_train, num_val=args.num_val, seed=args.seed)
    for split, path in ann_files.items():
        print(f'{split}: {path}')


if __name__ == '__main__':
    run_cli(main)
