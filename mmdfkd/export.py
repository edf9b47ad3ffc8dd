"""Ship the student of a data-free distillation run as a plain model.

A ``tools/train.py`` checkpoint of a :class:`~mmdfkd.models.DataFreeDistiller`
holds ``student.*``, ``generator.*`` and ``connectors.*`` weights and its
config describes the whole distiller (teacher, generator, priors, ...). What
is deployed is the student alone. :func:`export_student` writes

* ``student.py``: a plain config whose ``model`` is the student, with
  ``custom_imports=['mmdfkd']`` and ``default_scope`` so that mmdfkd's modules
  (ViT, SimpleFPN, TimmClassifier) build anywhere, plus the distillation
  config's val/test pipeline, dataloaders and evaluators, so that
  ``tools/test.py student.py student.pth`` evaluates it and, for detection,
  ``mmdet.apis.init_detector`` / ``inference_detector`` run it;
* ``student.pth``: ``dict(meta=dict(dataset_meta=dict(classes=...), ...),
  state_dict=<student weights, no prefix>)``, written atomically;

and, with ``onnx=True``, ``student.onnx``: the student's network from
normalised images to raw outputs (detection: the dense head's per-level
tuples, as ``model._forward`` returns them; classification: logits), checked
against PyTorch under onnxruntime (:func:`export_onnx`).
"""
import copy
import os
import os.path as osp
import tempfile
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from torch import Tensor, nn

DISTILLER_TYPES = ('DataFreeDistiller', 'mmdfkd.DataFreeDistiller')
# Top-level keys of the distillation config the student config keeps: runtime and evaluation.
# Training keys (train_dataloader, optim_wrapper, param_scheduler, custom_hooks, model_wrapper_cfg)
# belong to the distiller and are dropped.
KEEP_KEYS = ('env_cfg', 'vis_backends', 'visualizer', 'log_processor', 'log_level', 'default_hooks',
             'randomness', 'val_dataloader', 'val_evaluator', 'val_cfg', 'test_dataloader', 'test_evaluator',
             'test_cfg')
CUSTOM_IMPORTS = dict(imports=['mmdfkd'], allow_failed_imports=False)
ONNX_ATOL = 1e-4
ONNX_INSTALL = "pip install onnx onnxruntime   (or: pip install -e '.[export]')"


# ------------------------------------------------------------------ loading
def load_distiller_config(config: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a data-free distillation config; fail if its model is not a distiller."""
    if not osp.isfile(config):
        raise FileNotFoundError(f'Config file {config!r} does not exist. Data-free distillation configs ship '
                                'under configs/, e.g. configs/dfkd_vitdet_tiny.py.')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model_type = (cfg.get('model') or {}).get('type')
    if model_type not in DISTILLER_TYPES:
        raise ValueError(f'{config!r} describes a {model_type!r}, not a DataFreeDistiller: this tool takes the '
                         'config a student was distilled with (configs/dfkd_*.py). A plain model config and its '
                         'checkpoint need no export; use them with tools/test.py directly.')
    return cfg


def load_distiller_checkpoint(checkpoint: str) -> Tuple[Dict[str, Tensor], dict]:
    """The ``state_dict`` and ``meta`` of a ``tools/train.py`` distiller checkpoint.

    Read with ``weights_only=True`` (see :mod:`mmdfkd.engine.checkpoint`).
    A ``module.`` prefix (a checkpoint saved from a DDP wrapper) is removed.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist.
        ValueError: it holds no ``student.*`` weights, i.e. it is not a
            DataFreeDistiller checkpoint (the message says what it looks like).
    """
    from mmdfkd.engine.checkpoint import load_checkpoint_file
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint {checkpoint!r} does not exist. Distil a student first with '
                                '`python tools/train.py CONFIG`; its work dir holds iter_<n>.pth files.')
    ckpt = load_checkpoint_file(checkpoint)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{checkpoint!r} holds a {type(ckpt).__name__}, not a checkpoint dict written by '
                         'tools/train.py.')
    state = ckpt.get('state_dict', ckpt)
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()
             if isinstance(v, Tensor)}
    if not any(k.startswith('student.') for k in state):
        prefixes = sorted({k.split('.', 1)[0] for k in state})[:6]
        raise ValueError(
            f'{checkpoint!r} is not a DataFreeDistiller checkpoint: it has no student.* weights (its keys start '
            f'with {prefixes}). Pass a checkpoint that `python tools/train.py configs/dfkd_*.py` wrote. If this '
            'is already a plain model checkpoint (e.g. a teacher, or an exported student.pth), it needs no export.')
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    return state, meta


def _classes_of(cfg: Config, meta: dict) -> Optional[tuple]:
    """Class names: the checkpoint's ``dataset_meta``, else the config's datasets' ``metainfo``."""
    classes = (meta.get('dataset_meta') or {}).get('classes')
    for split in ('train', 'test', 'val'):
        if classes:
            break
        dataset = (cfg.get(f'{split}_dataloader') or {}).get('dataset') or {}
        classes = (dataset.get('metainfo') or {}).get('classes')
    return tuple(classes) if classes else None


def _without_pretrained(model_cfg: dict) -> dict:
    """The student config without references to pretrained files.

    The exported checkpoint holds every weight, so ``init_cfg=dict(type=
    'Pretrained', ...)`` and ``TimmClassifier(checkpoint=...)`` would only make
    the config depend on a file the user may not ship.
    """
    def clean(node):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == 'init_cfg' and isinstance(value, dict) and 'checkpoint' in value:
                    continue
                if key in ('checkpoint', 'pretrained') and isinstance(value, str):
                    continue
                out[key] = clean(value)
            return out
        if isinstance(node, (list, tuple)):
            return type(node)(clean(v) for v in node)
        return node
    return clean(model_cfg)


def student_config(cfg: Config) -> Config:
    """A plain config for the student of the distillation config ``cfg``.

    Returns:
        Config: ``model`` (the student), ``default_scope``, ``custom_imports``
        and the evaluation / runtime keys of ``cfg`` (:data:`KEEP_KEYS`).
    """
    out = dict(default_scope=cfg.get('default_scope', 'mmdfkd'), custom_imports=CUSTOM_IMPORTS)
    out['model'] = _without_pretrained(cfg.model.student.to_dict())
    for key in KEEP_KEYS:
        if cfg.get(key) is not None:
            value = cfg[key]
            out[key] = value.to_dict() if isinstance(value, ConfigDict) else copy.deepcopy(value)
    hooks = out.get('default_hooks')
    if isinstance(hooks, dict) and isinstance(hooks.get('checkpoint'), dict):
        # save_best refers to the distiller's val metric history; a test run saves nothing.
        hooks['checkpoint'].pop('save_best', None)
        hooks['checkpoint'].pop('rule', None)
    return Config(out)


def _atomic_write(path: str, write) -> None:
    """``write(tmp_path)``, then rename over ``path``: readers never see half a file."""
    folder = osp.dirname(osp.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.part', dir=folder)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private (0600); give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def load_weights(model: nn.Module, state_dict: Dict[str, Tensor], what: str, hint: str) -> None:
    """``model.load_state_dict(state_dict)`` with every mismatch listed in one error.

    Keys ``model.state_dict()`` leaves out (a distiller's teacher) are not missing.

    Raises:
        RuntimeError: ``'{what} do not match'``, the missing and unexpected
            keys, the shape mismatches, then ``hint``.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f'{k} {tuple(v.shape)} vs {tuple(own[k].shape)}' for k, v in state_dict.items()
              if k in own and v.shape != own[k].shape]
    if missing or unexpected or shapes:
        raise RuntimeError(f'{what} do not match: missing keys {missing[:8]}, unexpected keys {unexpected[:8]}, '
                           f'shape mismatches (checkpoint vs model) {shapes[:8]}. {hint}')
    model.load_state_dict({k: v for k, v in state_dict.items() if k in own}, strict=False)


def build_model(cfg: Config, state_dict: Optional[Dict[str, Tensor]] = None) -> nn.Module:
    """Build ``cfg.model`` in ``cfg.default_scope`` and load ``state_dict`` strictly, in eval mode."""
    from mmdfkd.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmdfkd'))
    model = MODELS.build(cfg.model)
    if state_dict is not None:
        load_weights(model, state_dict, 'The checkpoint\'s student weights and the config\'s student',
                     'Was the checkpoint trained with this config?')
    return model.eval()


def init_student(config: str, checkpoint: str, device: str = 'cpu') -> nn.Module:
    """Load an exported student (either task) for inference.

    For detection this is what ``mmdet.apis.init_detector`` does; it works for
    :class:`~mmdfkd.models.TimmClassifier` students too, whose
    ``model(inputs, mode='predict')`` gives ``pred_score`` per image.

    Returns:
        nn.Module: the model in eval mode, with ``cfg`` and ``dataset_meta``.
    """
    from mmdfkd.engine.checkpoint import load_checkpoint_file
    cfg = Config.fromfile(config)
    ckpt = load_checkpoint_file(checkpoint)
    model = build_model(cfg, ckpt['state_dict'])
    model.cfg = cfg
    model.dataset_meta = dict((ckpt.get('meta') or {}).get('dataset_meta') or {})
    return model.to(device)


def export_student(config: str, checkpoint: str, out_dir: str, cfg_options: Optional[dict] = None) -> dict:
    """Write ``student.py`` and ``student.pth`` for the student of a distillation run.

    Args:
        config (str): the data-free distillation config.
        checkpoint (str): its ``tools/train.py`` checkpoint.
        out_dir (str): created if missing.
        cfg_options (dict, optional): ``--cfg-options`` for ``config``.

    Returns:
        dict: ``config`` and ``checkpoint`` paths written, ``task``,
        ``classes``, the loaded student ``model`` (eval mode), its ``cfg``
        and ``img_size`` (H, W), the generator's: what the student was distilled on.
    """
    cfg = load_distiller_config(config, cfg_options)
    state, meta = load_distiller_checkpoint(checkpoint)
    task = cfg.model.get('task', 'det')
    out_cfg = student_config(cfg)
    student_state = {k[len('student.'):]: v for k, v in state.items() if k.startswith('student.')}
    model = build_model(out_cfg, student_state)  # fails here, before writing, if the weights do not fit

    classes = _classes_of(cfg, meta)
    from mmdfkd.models.tasks import build_task
    num_classes = build_task(task).num_classes(model)
    if classes is None:
        warnings.warn('No class names in the checkpoint or the config (metainfo.classes); the exported '
                      'checkpoint has none, so predictions will show class indices.')
    elif num_classes is not None and num_classes != len(classes):
        raise ValueError(f'The student predicts {num_classes} classes but the config/checkpoint names '
                         f'{len(classes)}: {classes}. Fix metainfo.classes in {config!r}.')
    dataset_meta = dict(meta.get('dataset_meta') or {})
    if classes is not None:
        dataset_meta['classes'] = classes
    out_meta = dict(
        dataset_meta=dataset_meta,
        mmdfkd_export=dict(task=task, distill_config=osp.abspath(config), distill_checkpoint=osp.abspath(checkpoint),
                           iter=meta.get('iter'), epoch=meta.get('epoch')))

    os.makedirs(out_dir, exist_ok=True)
    cfg_path = osp.join(out_dir, 'student.py')
    ckpt_path = osp.join(out_dir, 'student.pth')
    header = (f'# The student of {config}, exported by tools/export_student.py from\n# {checkpoint}.\n'
              f'# Evaluate: python tools/test.py {cfg_path} {ckpt_path}\n')
    text = header + out_cfg.pretty_text

    def write_cfg(tmp: str) -> None:
        with open(tmp, 'w') as f:
            f.write(text)

    _atomic_write(cfg_path, write_cfg)
    _atomic_write(ckpt_path, lambda tmp: torch.save(dict(meta=out_meta, state_dict=student_state), tmp))
    model.cfg = Config.fromfile(cfg_path)
    model.dataset_meta = dataset_meta
    img_size = cfg.model.generator.get('img_size', 224)
    img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    return dict(config=cfg_path, checkpoint=ckpt_path, task=task, classes=classes, model=model, cfg=model.cfg,
                img_size=img_size)


# --------------------------------------------------------------------- ONNX
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
    _atomic_write(path, lambda tmp: result.append(write(tmp)))
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
