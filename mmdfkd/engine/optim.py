"""One optimizer wrapper per trained part of a DataFreeDistiller."""
from typing import Optional

from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from torch import nn

from mmdfkd.registry import OPTIM_WRAPPER_CONSTRUCTORS

from .ddp import unwrap_model


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DataFreeOptimWrapperConstructor:
    """Builds ``OptimWrapperDict(generator=..., student=...)``.

    Config::

        optim_wrapper = dict(
            constructor='DataFreeOptimWrapperConstructor',
            generator=dict(optimizer=dict(type='Adam', lr=0.1, betas=(0.5, 0.999))),
            student=dict(optimizer=dict(type='AdamW', lr=1e-3), clip_grad=dict(max_norm=10)))

    The student's optimizer also trains the distiller's connectors. Each
    sub-config may carry its own ``paramwise_cfg``.
    """

    PARTS = ('generator', 'student')

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        missing = [p for p in self.PARTS if p not in optim_wrapper_cfg]
        if missing:
            raise KeyError(f'optim_wrapper lacks {missing}: DataFreeDistiller trains a generator and a student, '
                           'so give optim_wrapper=dict(constructor=..., generator=dict(optimizer=...), '
                           'student=dict(optimizer=...)).')
        if paramwise_cfg is not None:
            raise ValueError('Put paramwise_cfg inside optim_wrapper.generator or optim_wrapper.student.')
        self.optim_wrapper_cfg = optim_wrapper_cfg

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        model = unwrap_model(model)
        modules = {
            'generator': model.generator,
            'student': nn.ModuleDict(dict(student=model.student, connectors=model.connectors)),
        }
        wrappers = {}
        for part in self.PARTS:
            cfg = dict(self.optim_wrapper_cfg[part])
            paramwise = cfg.pop('paramwise_cfg', None)
            wrappers[part] = DefaultOptimWrapperConstructor(cfg, paramwise)(modules[part])
        return OptimWrapperDict(**wrappers)
