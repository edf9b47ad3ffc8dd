"""Mixed precision on CPUs with native bfloat16 (AVX512-BF16 or AMX), for ``tools/train.py --amp``.

MMEngine's ``AmpOptimWrapper`` runs on GPUs (and NPUs) only. On a CPU whose
instruction set computes in bf16, :class:`CPUBF16OptimWrapper` runs every
forward inside ``optim_context`` (the distiller's generator and student steps:
teacher, student and generator forwards) under ``torch.autocast('cpu',
dtype=torch.bfloat16)``. bf16 keeps fp32's exponent range, so no loss scaling
is needed; parameters, gradients and optimizer state stay fp32. A CPU without
native bf16 would emulate it, slower than fp32, so it is refused.
"""
import os.path as osp
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mmdfkd.registry import OPTIM_WRAPPERS

BF16_FLAGS = ('avx512_bf16', 'amx_bf16')


def cpu_bf16_flags(cpuinfo: str = '/proc/cpuinfo') -> set:
    """The native-bf16 instruction-set flags (:data:`BF16_FLAGS`) this CPU reports; empty if none or unknown."""
    if not osp.isfile(cpuinfo):
        return set()
    with open(cpuinfo) as f:
        flags = set()
        for line in f:
            if line.startswith('flags'):
                flags.update(line.split(':', 1)[1].split())
    return flags & set(BF16_FLAGS)


def check_cpu_bf16() -> None:
    """Raise a clear error unless this CPU computes bf16 natively."""
    if not cpu_bf16_flags():
        raise RuntimeError('--amp on a CPU needs native bfloat16 (the avx512_bf16 or amx_bf16 flag in '
                           '/proc/cpuinfo); this CPU has neither, so bf16 would be emulated and slower than fp32. '
                           'Drop --amp to train in fp32, or train on a GPU.')


@OPTIM_WRAPPERS.register_module()
class CPUBF16OptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose ``optim_context`` runs forwards in bf16 autocast on the CPU.

    Args:
        **kwargs: as :class:`mmengine.optim.OptimWrapper` (``optimizer``,
            ``clip_grad``, ``accumulative_counts``).
    """

    def __init__(self, **kwargs) -> None:
        check_cpu_bf16()
        super().__init__(**kwargs)

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast('cpu', dtype=torch.bfloat16):
            yield
