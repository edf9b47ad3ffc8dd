"""Build the bundled benchmarks from scikit-learn's digits (no download).

    python tools/prepare_data.py digits-det [--out data/digits-det] [--num-train 3000] [--num-val 500] [--seed 0]
    python tools/prepare_data.py digits-cls [--out data/digits-cls] [--size 32] [--seed 0]
"""
import argparse

from mmdfkd.datasets.digits import build_digits_cls, build_digits_det
from mmdfkd.engine.cli import run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Build Digits-Det / Digits-Cls from sklearn load_digits')
    sub = parser.add_subparsers(dest='dataset', required=True)
    det = sub.add_parser('digits-det', help='COCO-format detection images with 1-4 digits each')
    det.add_argument('--out', default='data/digits-det', help='output folder (default: data/digits-det)')
    det.add_argument('--num-train', type=int, default=3000, help='train images (default: 3000)')
    det.add_argument('--num-val', type=int, default=500, help='val images (default: 500)')
    det.add_argument('--seed', type=int, default=0, help='seed of the source split and rendering (default: 0)')
    cls = sub.add_parser('digits-cls', help='one upsampled image per source digit')
    cls.add_argument('--out', default='data/digits-cls', help='output folder (default: data/digits-cls)')
    cls.add_argument('--size', type=int, default=32, help='image side in pixels (default: 32)')
    cls.add_argument('--seed', type=int, default=0, help='seed of the source split (default: 0)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.dataset == 'digits-det':
        ann_files = build_digits_det(args.out, num_train=args.num_train, num_val=args.num_val, seed=args.seed)
    else:
        ann_files = build_digits_cls(args.out, seed=args.seed, size=args.size)
    for split, path in ann_files.items():
        print(f'{split}: {path}')


if __name__ == '__main__':
    run_cli(main)
