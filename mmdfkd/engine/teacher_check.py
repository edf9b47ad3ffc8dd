"""Refuse a broken teacher before training: :class:`TeacherCheckHook`."""
from typing import Iterator, Tuple

import torch
from mmengine.hooks import Hook

from mmdfkd.models.tasks import normalise_for
from mmdfkd.registry import HOOKS

from .ddp import unwrap_model


def _named_tensors(obj, name: str = 'outputs') -> Iterator[Tuple[str, torch.Tensor]]:
    """The tensors in a nested structure of dicts, lists and tuples, with their paths."""
    if isinstance(obj, torch.Tensor):
        yield name, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _named_tensors(value, f'{name}[{key!r}]')
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _named_tensors(value, f'{name}[{i}]')


@HOOKS.register_module()
class TeacherCheckHook(Hook):
    """Refuse, before training starts, a teacher whose outputs are not finite.

    Runs the distiller's teacher (``runner.model.teacher``, in eval mode,
    without gradients) on a probe batch of uniformly random pixels shaped like
    the generator's output (``generator.img_size``), normalised as the
    distiller normalises its synthetic images, through the distiller's task
    (``task.forward``: the logits of a classifier, the features and head
    outputs of a detector). If any output holds NaN or Inf, training stops at
    once with a ``FloatingPointError`` that names the outputs, instead of
    hours of synthesis against a broken teacher (a damaged checkpoint, one
    trained into NaN, a wrong normalisation).

    The probe pixels come from a private seeded generator, so the global RNG
    streams (and hence exact resume and determinism) are untouched. Models
    without ``teacher``, ``generator`` and ``task`` are skipped.
    ``tools/train.py`` (through :func:`mmdfkd.engine.launch.build_runner`)
    adds this hook to every data-free run.

    Args:
        batch_size (int): Probe images. Default: 2.
    """

    priority = 'VERY_HIGH'  # before anything spends time

    def __init__(self, batch_size: int = 2) -> None:
        if batch_size < 1:
            raise ValueError(f'TeacherCheckHook: batch_size must be >= 1, got {batch_size}.')
        self.batch_size = batch_size

    def before_train(self, runner) -> None:
        model = unwrap_model(runner.model)
        teacher, generator, task = (getattr(model, name, None) for name in ('teacher', 'generator', 'task'))
        if teacher is None or generator is None or task is None:
            return
        height, width = generator.img_size
        device = next(teacher.parameters()).device
        pixels = torch.rand((self.batch_size, 3, height, width), generator=torch.Generator().manual_seed(0)) * 255
        inputs = normalise_for(teacher, pixels.to(device))
        training = teacher.training
        teacher.eval()
        try:
            with torch.no_grad():
                outputs = task.forward(teacher, inputs)
        finally:
            teacher.train(training)
        bad = [f'{name} {tuple(t.shape)}' for name, t in _named_tensors(outputs)
               if t.is_floating_point() and not torch.isfinite(t).all()]
        bad.sort(key=lambda name: "['_" in name)  # public outputs ('logits', 'head') before internal ones
        if bad:
            raise FloatingPointError(
                f'The teacher ({type(teacher).__name__}) outputs NaN/Inf on a probe batch of random images '
                f'{tuple(inputs.shape)}: {", ".join(bad[:4])}{" ..." if len(bad) > 4 else ""}. Distilling from it '
                'would be wasted: check that model.teacher.checkpoint holds the trained teacher (evaluate it with '
                'tools/test.py) and that its data_preprocessor mean/std are those it was trained with.')
        runner.logger.info(f'TeacherCheckHook: the teacher\'s outputs are finite on {self.batch_size} random images.')
