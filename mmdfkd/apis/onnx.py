"""The student's network as ONNX, checked against PyTorch under onnxruntime (``tools/export_student.py --onnx``)."""
import copy
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import Tensor, nn

from mmdfkd.engine.fileio import atomic_write

ONNX_ATOL = 1e-4
ONNX_INSTALL = "pip install onnx onnxruntime   (or: pip install -e '.[export]')"

def require_onnx():
    """Import onnx and onnxruntime, or say how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise ImportError(f'ONNX export needs the onnx and onnxruntime packages ({err}). Install them with: '
                          f'{ONNX_INSTALL}') from None
    return onnx, onnxruntime


class RawStudent(nn.Module):
    """The student's network only: normalised images in, raw tensors out.

    Detection: ``model._forward(inputs)`` (backbone, neck, dense head), its
    nested per-level tuples flattened in order, e.g. for FCOS
    ``cls_score_0..L-1, bbox_pred_0..L-1, centerness_0..L-1``.
    Classification: the logits ``(N, K)``.

    Args:
        model (nn.Module): the student.
        task (str): 'det' or 'cls'.
    """

    GROUP_NAMES = ('cls_score', 'bbox_pred', 'centerness')

    def __init__(self, model: nn.Module, task: str) -> None:
        super().__init__()
        if task == 'det' and not hasattr(model, 'bbox_head'):
            raise ValueError(f'ONNX export covers one-stage detectors, whose dense head gives the raw outputs; '
                             f'{type(model).__name__} needs proposals and RoI operators. Deploy its student.py and '
                             'student.pth with PyTorch (mmdet.apis.init_detector), or convert them with MMDeploy.')
        self.model = model
        self.task = task

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        if self.task == 'cls':
            return (self.model(inputs, mode='tensor'), )
        outputs = self.model._forward(inputs)
        flat: List[Tensor] = []
        for group in outputs:
            flat.extend(group if isinstance(group, (list, tuple)) else [group])
        return tuple(flat)

    def output_names(self, inputs: Tensor) -> List[str]:
        """Names of the flattened outputs, for the ONNX graph."""
        if self.task == 'cls':
            return ['logits']
        with torch.no_grad():
            outputs = self.model._forward(inputs)
        names = []
        for i, group in enumerate(outputs):
            base = self.GROUP_NAMES[i] if i < len(self.GROUP_NAMES) else f'out{i}'
            if isinstance(group, (list, tuple)):
                names.extend(f'{base}_{level}' for level in range(len(group)))
            else:
                names.append(base)
        return names


def prepare_inputs(model: nn.Module, cfg: Config, image: str) -> Tensor:
    """Run ``image`` through the config's test pipeline and the model's data preprocessor.

    Returns:
        Tensor: (1, 3, H, W) normalised (and padded) inputs, as the network sees them.
    """
    from mmengine.dataset import Compose
    init_default_scope(cfg.get('default_scope', 'mmdfkd'))
    pipeline = Compose(copy.deepcopy(cfg.test_dataloader.dataset.pipeline))
    data = pipeline(dict(img_path=image, img_id=0))
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    with torch.no_grad():
        return model.data_preprocessor(batch, False)['inputs']


def default_test_image(cfg: Config, work_dir: str, img_size: Sequence[int]) -> Tuple[str, str]:
    """The first image of the config's test set, or a random ``img_size`` image written to ``work_dir``.

    Data-free users may have no test data at all; the ONNX check then runs on noise.

    Returns:
        tuple: (path, description).
    """
    from mmengine.registry import DATASETS
    try:
        init_default_scope(cfg.get('default_scope', 'mmdfkd'))
        dataset = DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))
        path = dataset.get_data_info(0)['img_path']
        if osp.isfile(path):
            return path, f'the first test image {path}'
        reason = f'{path} does not exist'
    except Exception as err:  # no data is normal in a data-free setting
        reason = f'{type(err).__name__}: {str(err)[:200]}'
    import cv2
    height, width = img_size
    path = osp.join(work_dir, 'random_test_image.png')
    cv2.imwrite(path, np.random.RandomState(0).randint(0, 256, (height, width, 3), dtype=np.uint8))
    return path, f'a random {height}x{width} image (the test set could not be read: {reason}; pass --image)'


def export_onnx(model: nn.Module, task: str, inputs: Tensor, path: str, opset: int = 17,
                atol: float = ONNX_ATOL, metadata: Optional[dict] = None) -> float:
    """Export :class:`RawStudent` to ONNX at the shape of ``inputs`` and check it under onnxruntime.

    The graph has one input ``inputs`` (static shape, the shape of
    ``inputs``) and the raw outputs named by :meth:`RawStudent.output_names`.
    It is written to ``path`` only if onnxruntime's outputs match PyTorch's
    within ``atol`` (maximum absolute difference over all outputs).

    Args:
        model (nn.Module): the student, in eval mode.
        task (str): 'det' or 'cls'.
        inputs (Tensor): (1, 3, H, W) normalised test image.
        path (str): the .onnx file.
        opset (int): ONNX opset.
        atol (float): tolerance of the check.
        metadata (dict, optional): str -> str written into the model's ``metadata_props``.

    Returns:
        float: the maximum absolute difference.

    Raises:
        RuntimeError: the difference exceeds ``atol``.
        ValueError: a two-stage detector (see :class:`RawStudent`).
    """
    onnx, ort = require_onnx()
    net = RawStudent(model.eval(), task).eval()
    names = net.output_names(inputs)

    def write(tmp: str) -> float:
        with warnings.catch_warnings():
            # A trace of a fixed input size: the shape-dependent Python branches are meant to be constants.
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            # dynamo=False: the TorchScript exporter, deprecated in torch >= 2.9 but the one that traces
            # mmdet's heads and timm's ViTs as they run, with no extra dependency (onnxscript).
            warnings.simplefilter('ignore', DeprecationWarning)
            torch.onnx.export(net, (inputs, ), tmp, input_names=['inputs'], output_names=names,
                              opset_version=opset, dynamo=False, do_constant_folding=True)
        proto = onnx.load(tmp)
        onnx.checker.check_model(proto)
        for key, value in (metadata or {}).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = str(key), str(value)
        onnx.save(proto, tmp)
        session = ort.InferenceSession(tmp, providers=['CPUExecutionProvider'])
        got = session.run(None, {'inputs': inputs.cpu().numpy()})
        with torch.no_grad():
            expected = net(inputs)
        diff = max(float(np.abs(g - e.cpu().numpy()).max()) for g, e in zip(got, expected))
        if not diff <= atol:
            raise RuntimeError(f'ONNX check failed: onnxruntime and PyTorch outputs differ by up to {diff:.3g} '
                               f'(> {atol:g}) on the test image; {path} was not written.')
        return diff

    result: List[float] = []
    atomic_write(path, lambda tmp: result.append(write(tmp)))
    return result[0]


def onnx_metadata(model: nn.Module, task: str, classes: Optional[tuple], inputs: Tensor) -> Dict[str, str]:
    """What a deployment needs to feed the graph and read its outputs."""
    pre = model.data_preprocessor
    meta = dict(task=task, input_shape=str(list(inputs.shape)), classes=repr(list(classes or [])))
    if getattr(pre, '_enable_normalize', False):
        meta['mean'] = str(pre.mean.flatten().tolist())
        meta['std'] = str(pre.std.flatten().tolist())
    meta['bgr_to_rgb'] = str(bool(getattr(pre, '_channel_conversion', False)))
    if task == 'det' and hasattr(model, 'bbox_head'):
        meta['strides'] = str(list(getattr(model.bbox_head, 'strides', [])))
    return meta
