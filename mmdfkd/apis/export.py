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
against PyTorch under onnxruntime (:func:`mmdfkd.apis.onnx.export_onnx`).
"""
import copy
import os
import os.path as osp
import warnings
from typing import Dict, Optional, Tuple

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from torch import Tensor, nn

from mmdfkd.engine.checkpoint import load_checkpoint_file
from mmdfkd.engine.fileio import atomic_write, atomic_write_text
from mmdfkd.models.distiller import DISTILLER_TYPES, resolved_student_config
from mmdfkd.utils.state_dict import load_state_dict_checked, unwrap_state_dict

# Top-level keys of the distillation config the student config keeps: runtime and evaluation.
# Training keys (train_dataloader, optim_wrapper, param_scheduler, custom_hooks, model_wrapper_cfg)
# belong to the distiller and are dropped.
KEEP_KEYS = ('env_cfg', 'vis_backends', 'visualizer', 'log_processor', 'log_level', 'default_hooks',
             'randomness', 'val_dataloader', 'val_evaluator', 'val_cfg', 'test_dataloader', 'test_evaluator',
             'test_cfg')
CUSTOM_IMPORTS = dict(imports=['mmdfkd'], allow_failed_imports=False)


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
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint {checkpoint!r} does not exist. Distil a student first with '
                                '`python tools/train.py CONFIG`; its work dir holds iter_<n>.pth files.')
    ckpt = load_checkpoint_file(checkpoint)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{checkpoint!r} holds a {type(ckpt).__name__}, not a checkpoint dict written by '
                         'tools/train.py.')
    state = unwrap_state_dict(ckpt, repr(checkpoint), entries=('state_dict', ))
    if not any(k.startswith('student.') for k in state):
        prefixes = sorted({k.split('.', 1)[0] for k in state})[:6]
        raise ValueError(
            f'{checkpoint!r} is not a DataFreeDistiller checkpoint: it has no student.* weights (its keys start '
            f'with {prefixes}). Pass a checkpoint that `python tools/train.py configs/dfkd_*.py` wrote. If this '
            'is already a plain model checkpoint (e.g. a teacher, or an exported student.pth), it needs no export.')
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    return state, meta


def classes_of(cfg: Config, meta: dict) -> Optional[tuple]:
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
    out['model'] = _without_pretrained(resolved_student_config(cfg.model.to_dict()))
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




def build_model(cfg: Config, state_dict: Optional[Dict[str, Tensor]] = None) -> nn.Module:
    """Build ``cfg.model`` in ``cfg.default_scope`` and load ``state_dict`` strictly, in eval mode."""
    from mmdfkd.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmdfkd'))
    model = MODELS.build(cfg.model)
    if state_dict is not None:
        load_state_dict_checked(model, state_dict, 'The checkpoint\'s student weights and the config\'s student',
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

    classes = classes_of(cfg, meta)
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
    atomic_write_text(cfg_path, header + out_cfg.pretty_text)
    atomic_write(ckpt_path, lambda tmp: torch.save(dict(meta=out_meta, state_dict=student_state), tmp))
    model.cfg = Config.fromfile(cfg_path)
    model.dataset_meta = dataset_meta
    img_size = cfg.model.generator.get('img_size', 224)
    img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    return dict(config=cfg_path, checkpoint=ckpt_path, task=task, classes=classes, model=model, cfg=model.cfg,
                img_size=img_size)


