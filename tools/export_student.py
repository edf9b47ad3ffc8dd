"""Export the student of a data-free distillation run as a plain model.

    python tools/export_student.py CONFIG CKPT --out DIR [--onnx [--image IMG]]
        [--cfg-options key=value ...]

Writes DIR/student.py (the student's config, with the evaluation settings of
CONFIG) and DIR/student.pth (its weights and class names), which
`python tools/test.py DIR/student.py DIR/student.pth` evaluates and, for
detection, `mmdet.apis.init_detector` loads. With --onnx also DIR/student.onnx
(normalised image in, raw network outputs out), checked against PyTorch under
onnxruntime on one test image.
"""
import argparse
import os.path as osp
import sys
import tempfile

from mmengine.config import DictAction

from mmdfkd.engine.cli import run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export the student of a data-free distillation checkpoint')
    parser.add_argument('config', help='the data-free distillation config (configs/dfkd_*.py)')
    parser.add_argument('checkpoint', help='its checkpoint from tools/train.py')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--onnx', action='store_true', help='also export DIR/student.onnx and check it')
    parser.add_argument('--image', help='test image for the ONNX check (default: the first test-set image)')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override CONFIG entries')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from mmdfkd import apis as export
    if args.onnx:
        try:
            export.require_onnx()  # before any work
        except ImportError as err:
            raise SystemExit(f'export_student: {err}')
    try:
        result = export.export_student(args.config, args.checkpoint, args.out, args.cfg_options)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise SystemExit(f'export_student: {err}')
    print(f'wrote {result["config"]}\nwrote {result["checkpoint"]} ({result["task"]}, classes: {result["classes"]})')
    if not args.onnx:
        return
    model, cfg = result['model'], result['cfg']
    if args.image and not osp.isfile(args.image):
        raise SystemExit(f'export_student: --image {args.image!r} does not exist.')
    with tempfile.TemporaryDirectory() as tmp:
        image, what = (args.image, args.image) if args.image else \
            export.default_test_image(cfg, tmp, result['img_size'])
        inputs = export.prepare_inputs(model, cfg, image)
    path = osp.join(args.out, 'student.onnx')
    try:
        diff = export.export_onnx(model, result['task'], inputs, path, opset=args.opset,
                                  metadata=export.onnx_metadata(model, result['task'], result['classes'], inputs))
    except (ValueError, RuntimeError) as err:
        print(f'export_student: {err}', file=sys.stderr)
        raise SystemExit(1)
    print(f'wrote {path} (input {list(inputs.shape)}); onnxruntime vs PyTorch on {what}: '
          f'max abs difference {diff:.3g} (tolerance {export.ONNX_ATOL:g})')


if __name__ == '__main__':
    run_cli(main)
