"""Data-parallel training of a DataFreeDistiller: :class:`DataFreeDDP`."""
import contextlib
import hashlib
from typing import Dict, Iterator, List, Union

import torch
from mmengine.dist import all_gather_object, all_reduce, all_reduce_params, broadcast, get_world_size
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from torch import nn

from mmdfkd.registry import MODEL_WRAPPERS


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model a DDP (or any MMEngine) wrapper holds, or ``model`` itself."""
    return model.module if is_model_wrapper(model) else model


@MODEL_WRAPPERS.register_module()
class DataFreeDDP(nn.Module):
    """Data parallelism for :class:`~mmdfkd.models.DataFreeDistiller`.

    Why not MMEngine's ``MMDistributedDataParallel``: its ``train_step`` runs
    ``forward(mode='loss')`` once, whereas the distiller's own
    :meth:`train_step` runs a generator phase and a student phase with two
    optimizers and reaches the student through ``extract_feat`` /
    ``bbox_head`` rather than ``forward``, where torch's DDP (whose gradient
    sync is armed by ``forward``) cannot follow.

    Design: this wrapper calls ``module.train_step(data, optim_wrapper)``
    unchanged and averages gradients explicitly. During that call every
    optimizer wrapper's ``step()`` first all-reduces (mean) the gradients of
    its parameters in one coalesced call per dtype, then clips and steps as
    usual, so clipping and AMP unscaling see the averaged gradients, as with
    DDP, and gradient accumulation syncs only on the iterations that step.
    Consequently:

    - each rank synthesises its own batch (set
      ``randomness=dict(seed=S, diff_rank_seed=True)``; ``tools/train.py``
      does so for a distiller launched distributed, and the wrapper warns
      when all ranks start from the same RNG state), so N ranks distil from
      N times as many images per iteration;
    - the student, its connectors and a learned generator (conv,
      transformer) get averaged gradients and stay identical on all ranks;
    - a generator that re-initialises per batch (``PixelBankGenerator``,
      whose parameters are this rank's images) is rank-local: never
      averaged or broadcast;
    - parameters and buffers are broadcast from rank 0 when wrapping, and
      floating-point buffers of the student side before every step (torch
      DDP's ``broadcast_buffers``);
    - each rank keeps its own replay memory.

    Registered in mmdfkd's ``MODEL_WRAPPERS`` and in MMEngine's root one,
    where ``Runner.wrap_model`` looks wrapper types up. Config
    (``tools/train.py`` sets it when ``--launcher`` is not 'none')::

        model_wrapper_cfg = dict(type='DataFreeDDP')

    Args:
        module (nn.Module): The distiller.
        broadcast_buffers (bool): Broadcast floating-point buffers from rank 0
            before every step. Default: True.
    """

    def __init__(self, module: nn.Module, broadcast_buffers: bool = True) -> None:
        super().__init__()
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        if get_world_size() > 1:
            for tensor in self._shared(self.module.parameters()) + self._shared(self.module.buffers()):
                broadcast(tensor.data, src=0)
            self._warn_if_ranks_share_rng()

    # ------------------------------------------------------------- helpers
    def _rank_local_ids(self) -> set:
        generator = getattr(self.module, 'generator', None)
        if generator is not None and getattr(generator, 'holds_batch', False):
            return {id(t) for t in list(generator.parameters()) + list(generator.buffers())}
        return set()

    def _shared(self, tensors: Iterator[torch.Tensor]) -> List[torch.Tensor]:
        """``tensors`` minus the rank-local generator's."""
        local = self._rank_local_ids()
        return [t for t in tensors if id(t) not in local]

    def _warn_if_ranks_share_rng(self) -> None:
        digest = hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest()
        if len(set(all_gather_object(digest))) < get_world_size():
            print_log('DataFreeDDP: ranks start from the same RNG state, so they would synthesise identical '
                      'images and waste all but one; set randomness=dict(seed=S, diff_rank_seed=True).',
                      logger='current', level=30)

    def _all_reduce_grads(self, params: List[nn.Parameter]) -> None:
        """Average ``.grad`` over ranks; a gradient missing on some ranks counts as zeros there."""
        params = [p for p in self._shared(iter(params)) if p.requires_grad]
        if not params:
            return
        present = torch.tensor([float(p.grad is not None) for p in params], device=params[0].device)
        all_reduce(present, op='sum')
        synced = []
        for param, count in zip(params, present.tolist()):
            if count == 0:
                continue  # no rank has a gradient: the optimizer skips it everywhere
            if param.grad is None:
                param.grad = torch.zeros_like(param)
            synced.append(param.grad)
        all_reduce_params(synced, coalesce=True, op='mean')

    @contextlib.contextmanager
    def _averaging_gradients(self, optim_wrapper: Union[OptimWrapper, OptimWrapperDict]):
        """While active, each wrapper's ``step()`` averages its gradients first."""
        wrappers: Dict[str, OptimWrapper] = (dict(optim_wrapper.items()) if isinstance(optim_wrapper, OptimWrapperDict)
                                             else {'': optim_wrapper})
        patched = []
        for wrapper in wrappers.values():
            original = wrapper.step
            params = [p for group in wrapper.optimizer.param_groups for p in group['params']]

            def step(*args, _original=original, _params=params, **kwargs):
                self._all_reduce_grads(_params)
                return _original(*args, **kwargs)

            patched.append((wrapper, wrapper.__dict__.get('step')))
            wrapper.step = step
        try:
            yield
        finally:
            for wrapper, previous in patched:
                if previous is None:
                    del wrapper.step
                else:
                    wrapper.step = previous

    # --------------------------------------------------------- MMEngine API
    def train_step(self, data: Union[dict, list], optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """The distiller's ``train_step`` with gradients averaged over ranks."""
        if get_world_size() == 1:
            return self.module.train_step(data, optim_wrapper)
        if self.broadcast_buffers:
            teacher = getattr(self.module, 'teacher', None)
            frozen = {id(b) for b in teacher.buffers()} if teacher is not None else set()
            for buf in self._shared(self.module.buffers()):
                if buf.is_floating_point() and id(buf) not in frozen:
                    broadcast(buf, src=0)
        with self._averaging_gradients(optim_wrapper):
            return self.module.train_step(data, optim_wrapper)

    def val_step(self, data: Union[dict, list]) -> list:
        return self.module.val_step(data)

    def test_step(self, data: Union[dict, list]) -> list:
        return self.module.test_step(data)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


# Runner.wrap_model looks the wrapper type up in MMEngine's root registry, without the
# default scope, so `model_wrapper_cfg=dict(type='DataFreeDDP')` needs it there too.
MMENGINE_MODEL_WRAPPERS.register_module(module=DataFreeDDP)
