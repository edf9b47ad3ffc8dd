"""Parameters and FLOPs of the models of a distillation config.

FLOPs are of the network alone (``model(inputs, mode='tensor')``: normalised
images to raw head outputs or logits), without the data preprocessor and, for
detectors, without box decoding and NMS.
"""
import os.path as osp
from typing import Callable, Dict, Sequence, Tuple

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from torch import Tensor, nn

from mmdfkd.models.distiller import DISTILLER_TYPES, DataFreeDistiller


def tensor_forward(model: nn.Module) -> Callable[[Tensor], object]:
    """``model(x, mode='tensor')`` for MMEngine models, ``model(x)`` for anything else.

    A detector gets empty data samples of the batch's shape, as a synthetic batch has: a
    two-stage detector's tensor forward reads image shapes from them (the RPN decodes
    proposals); a one-stage one ignores them.
    """
    from mmdet.models.detectors import BaseDetector
    from mmengine.model import BaseModel

    from mmdfkd.models.tasks import DetectionTask
    if isinstance(model, BaseDetector):
        return lambda x: model(x, DetectionTask.data_samples(x), mode='tensor')
    if isinstance(model, BaseModel):
        return lambda x: model(x, mode='tensor')
    return model


def input_size_of(cfg: Config) -> Tuple[int, int]:
    """``(H, W)`` the models of a distillation config run at: its generator's ``img_size``."""
    size = (cfg.get('model') or {}).get('generator', {}).get('img_size')
    if size is None:
        raise ValueError('No model.generator.img_size in the config; pass the input size explicitly.')
    return (size, size) if isinstance(size, int) else tuple(size)


def build_teacher_student(cfg: Config) -> Tuple[nn.Module, nn.Module]:
    """The teacher and the student of a distillation config, in eval mode.

    The teacher is loaded from its checkpoint when the file exists (its weights
    do not change its cost), otherwise randomly initialised.
    """
    from mmdfkd.registry import MODELS
    model_cfg = cfg.get('model') or {}
    if model_cfg.get('type') not in DISTILLER_TYPES:
        raise ValueError(f'Expected a DataFreeDistiller config (configs/dfkd_*.py), got model type '
                         f'{model_cfg.get("type")!r}.')
    init_default_scope(cfg.get('default_scope', 'mmdfkd'))
    teacher_cfg = dict(model_cfg['teacher'])
    if teacher_cfg.get('config') is not None:
        sub = Config.fromfile(teacher_cfg['config'])
        if teacher_cfg.get('cfg_options'):
            sub.merge_from_dict(dict(teacher_cfg['cfg_options']))
        teacher = MODELS.build(sub.model)
    else:
        teacher = MODELS.build(ConfigDict(teacher_cfg['model']))
    checkpoint = teacher_cfg.get('checkpoint')
    if checkpoint and osp.isfile(checkpoint):
        DataFreeDistiller.load_teacher_weights(teacher, checkpoint, teacher_cfg.get('config'))
    student = MODELS.build(ConfigDict(model_cfg['student']))
    return teacher.eval(), student.eval()



def complexity(model: nn.Module, input_size: Sequence[int]) -> Dict[str, object]:
    """Parameters and FLOPs of ``model`` on one ``(3, H, W)`` image.

    FLOPs are counted by ``mmengine.analysis`` (fvcore's counting: one
    multiply-add is one FLOP) over ``model(x, mode='tensor')``.

    Returns:
        dict: ``params`` (int), ``flops`` (int), ``input_size`` [H, W].
    """
    from mmengine.analysis import FlopAnalyzer
    params = sum(p.numel() for p in model.parameters())
    inputs = torch.zeros(1, 3, *input_size)

    class _Tensor(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner
            self.call = tensor_forward(inner)

        def forward(self, x: Tensor):
            return self.call(x)

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analyzer = FlopAnalyzer(_Tensor(model), (inputs, ))
            analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            flops = int(analyzer.total())
    finally:
        model.train(was_training)
    return dict(params=params, flops=flops, input_size=list(input_size))

