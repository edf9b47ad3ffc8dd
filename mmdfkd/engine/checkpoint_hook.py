"""Crash-safe checkpoints that resume bit for bit: :class:`AtomicCheckpointHook`."""
import errno
import glob
import os
import os.path as osp
import random
import shutil
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size, is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

from mmdfkd.registry import HOOKS

from .ddp import unwrap_model
from .fileio import TMP_SUFFIX, atomic_write, atomic_write_text

# errno values of a full disk and of an exceeded quota.
_NO_SPACE = {errno.ENOSPC, getattr(errno, 'EDQUOT', errno.ENOSPC)}


class DiskFullError(OSError):
    """A checkpoint could not be saved because its disk (or quota) is full; earlier checkpoints are intact."""


def _mb(num_bytes: float) -> str:
    return f'{num_bytes / 2**20:.1f} MB'


def rng_state() -> dict:
    """This process's python, numpy, torch (and CUDA) RNG states, in types ``weights_only`` loads.

    Returns:
        dict: ``python``, ``numpy`` (tuple with the key as a list of ints),
        ``torch`` (uint8 tensor) and ``cuda`` (list of uint8 tensors, one per
        visible device; empty without CUDA).
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return dict(python=random.getstate(),
                numpy=(str(name), keys.tolist(), int(pos), int(has_gauss), float(cached)),
                torch=torch.get_rng_state(),
                cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned (tensors may come back on a GPU)."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda') or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def _tensor_bytes(obj) -> int:
    """Bytes of the tensors in a nested state dict."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook`` with crash-safe files and exact resume.

    Same arguments and behaviour as :class:`mmengine.hooks.CheckpointHook`
    (it is the ``default_hooks.checkpoint`` of ``configs/_base_/default_runtime.py``),
    except that:

    1. **Atomic files.** Every checkpoint, the periodic ones and the
       ``save_best`` ones, is saved by ``Runner.save_checkpoint`` through
       :func:`mmdfkd.engine.fileio.atomic_write`: under a hidden temporary
       name in the same folder (``.iter_4.pth.tmp``), fsynced, then
       ``os.replace``-d onto its final name, and the folder is fsynced. A
       crash, a kill or a full disk leaves the earlier checkpoints and either
       the complete new file or none: never a truncated file under a
       checkpoint's name. Stale temporary files are deleted when training
       starts.
    2. **``last_checkpoint``** (what ``--resume`` without a path reads) is
       written the same way, after the rename, so it always names a
       complete file.
    3. **Old checkpoints are deleted after** the new one is in place
       (``max_keep_ckpts``, and the previous best checkpoint); MMEngine
       deletes first, so with ``max_keep_ckpts=1`` a crash mid-save would
       leave no checkpoint.
    4. **A full disk** (ENOSPC, or an exceeded quota) stops training with a
       :class:`DiskFullError` naming the folder, the space the checkpoint
       needs (the size of the newest checkpoint there, else of the weights
       and optimizer state) and the space free; the earlier checkpoints are
       intact, so ``--resume`` continues once there is room.
    5. **RNG states** (``save_rng_state=True``): every checkpoint carries the
       python, numpy, torch and CUDA RNG states of every rank
       (``checkpoint['rng_state'] = dict(world_size=W, ranks=[...])``,
       gathered from all ranks); ``--resume`` restores this rank's states
       just before the first resumed iteration. MMEngine re-seeds instead,
       so a resumed data-free run would synthesise other images than the
       interrupted one.
    6. **The replay memory** (``save_memory=True``): when the model (or the
       model a wrapper holds) has a ``memory`` with a positive ``capacity``
       (the distiller's ``SyntheticMemory``), every rank's memory is saved
       as ``checkpoint['synthetic_memory'] = dict(world_size=W, ranks=[...])``
       (uint8 images and their layouts: 3 KB per 32x32 image) and
       restored on ``--resume``.

    With RNG states and memory restored, a resumed run on the same hardware
    and world size reproduces the uninterrupted run's weights bit for bit.
    On another world size both are skipped with a warning (training is
    otherwise unaffected). ``load_from`` without resume restores neither.

    Only local folders get atomic writes; other backends (``backend_args``
    for object stores, which replace objects whole) go through MMEngine's
    own code unchanged.

    Args:
        save_rng_state (bool): Store and restore RNG states. Default: True.
        save_memory (bool): Store and restore the replay memory. Default: True.
        **kwargs: As for :class:`mmengine.hooks.CheckpointHook`.
    """

    def __init__(self, *args, save_rng_state: bool = True, save_memory: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.save_rng_state = save_rng_state
        self.save_memory = save_memory
        # Gathered from all ranks for the save in progress.
        self._rng_states: Optional[List[dict]] = None
        self._memory_states: Optional[List[dict]] = None
        # Read by after_load_checkpoint, applied in before_train.
        self._loaded_rng: Optional[dict] = None
        self._loaded_memory: Optional[dict] = None
        self._loaded_iter: Optional[int] = None

    # ------------------------------------------------------------- saving
    def _is_local(self) -> bool:
        return isinstance(getattr(self, 'file_backend', None), LocalBackend)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self._is_local() and is_main_process():
            for stale in glob.glob(osp.join(glob.escape(self.out_dir), f'.*{TMP_SUFFIX}')):
                runner.logger.warning(f'Removing {stale}, left by a save that was interrupted.')
                os.remove(stale)
        self._restore(runner)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        self._save_atomically(runner, ckpt_filename, meta)
        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old_step in outdated:
            self._remove(self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old_step)))

    def _remove(self, path: str) -> bool:
        """Delete a checkpoint file (or a deepspeed checkpoint folder); False if there was none."""
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):
            self.file_backend.rmtree(path)
        else:
            return False
        return True

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """MMEngine's ``save_best`` logic, saving atomically and deleting the previous best afterwards."""
        if not self.save_best or not self._is_local():
            return super()._save_best_checkpoint(runner, metrics)
        step = runner.epoch if self.by_epoch else runner.iter
        ckpt_filename = self.filename_tmpl.format(step)
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [list(metrics.keys())[0]])
        single = len(self.key_indicators) == 1
        updated = False
        for key_indicator, rule in zip(self.key_indicators, self.rules):
            score_key = 'best_score' if single else f'best_score_{key_indicator}'
            score = metrics[key_indicator]
            best = runner.message_hub.runtime_info.get(score_key, self.init_value_map[rule])
            if score is None or not self.is_better_than[key_indicator](score, best):
                continue
            updated = True
            runner.message_hub.update_info(score_key, score)
            name = f'best_{key_indicator}_{ckpt_filename}'.replace('/', '_')
            path = self.file_backend.join_path(self.out_dir, name)
            previous = self.best_ckpt_path if single else self.best_ckpt_path_dict[key_indicator]
            if single:
                self.best_ckpt_path = path
            else:
                self.best_ckpt_path_dict[key_indicator] = path
            runner.message_hub.update_info('best_ckpt' if single else f'best_ckpt_{key_indicator}', path)
            self._save_atomically(runner, name, meta, save_optimizer=False, save_param_scheduler=False,
                                  by_epoch=False)
            if previous and previous != path and is_main_process() and self._remove(previous):
                runner.logger.info(f'The previous best checkpoint {previous} is removed')
            runner.logger.info(f'The best checkpoint with {score:0.4f} {key_indicator} at {step} '
                               f'{"epoch" if self.by_epoch else "iter"} is saved to {name}.')
        # Saved again so that its message hub names the new best (as MMEngine does).
        if updated and self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, step, meta)

    def _save_atomically(self, runner, filename: str, meta: dict, **overrides) -> None:
        """``runner.save_checkpoint`` through :func:`atomic_write` on the main process.

        Every rank must call it: it gathers the ranks' RNG states and replay
        memories for the checkpoint, and ``Runner.save_checkpoint`` runs the
        ``before_save_checkpoint`` hooks everywhere (it writes on the main
        process only).
        """
        kwargs = dict(save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
                      meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        kwargs.update(overrides)
        gather = all_gather_object if get_world_size() > 1 else (lambda state: [state])
        if self.save_rng_state:
            self._rng_states = gather(rng_state())
        memory = self._memory(runner)
        if memory is not None:
            self._memory_states = gather(memory.state_dict())
        try:
            if not self._is_local() or not is_main_process():  # off the main process nothing is written
                runner.save_checkpoint(self.out_dir, filename, self.file_client_args, **kwargs)
                return
            path = osp.join(self.out_dir, filename)
            try:
                atomic_write(path, lambda tmp: runner.save_checkpoint(
                    self.out_dir, osp.relpath(tmp, self.out_dir), self.file_client_args, **kwargs))
            except OSError as err:
                if err.errno in _NO_SPACE:
                    raise self._disk_full(runner, path, err) from err
                raise
        finally:
            self._rng_states = self._memory_states = None

    def _disk_full(self, runner, path: str, err: OSError) -> DiskFullError:
        """The error for a save of ``path`` that ran out of space: the folder, the space needed and free."""
        folder = osp.dirname(osp.abspath(path))
        earlier = [p for p in glob.glob(osp.join(glob.escape(folder), '*.pth')) if osp.isfile(p)]
        if earlier:
            newest = max(earlier, key=osp.getmtime)
            needed, basis = osp.getsize(newest), f'the size of {osp.basename(newest)}'
            intact = f'The earlier checkpoints there are intact (the newest is {osp.basename(newest)}); '
        else:
            optim = getattr(runner, 'optim_wrapper', None)
            needed = _tensor_bytes(runner.model.state_dict()) + (
                _tensor_bytes(optim.state_dict()) if optim is not None and self.save_optimizer else 0)
            basis, intact = 'the size of the weights and optimizer state', 'No checkpoint was written; '
        error = DiskFullError(
            f'No space left on the device to save checkpoint {path}: it needs about {_mb(needed)} ({basis}) and '
            f'{folder} has {_mb(shutil.disk_usage(folder).free)} free. {intact}free space there, or train with '
            '--work-dir on a larger disk, then continue with --resume.')
        error.errno = err.errno
        return error

    def _memory(self, runner):
        """The model's replay memory when it is to be saved, else None."""
        memory = getattr(unwrap_model(runner.model), 'memory', None) if self.save_memory else None
        return memory if getattr(memory, 'capacity', 0) > 0 and hasattr(memory, 'state_dict') else None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        single = get_world_size() == 1  # a save that did not come through this hook can still gather
        states = self._rng_states
        if self.save_rng_state and states is None and single:
            states = [rng_state()]
        if self.save_rng_state and states is not None:
            checkpoint['rng_state'] = dict(world_size=len(states), ranks=states)
        memories, memory = self._memory_states, self._memory(runner)
        if memory is not None and memories is None and single:
            memories = [memory.state_dict()]
        if memory is not None and memories is not None:
            checkpoint['synthetic_memory'] = dict(world_size=len(memories), ranks=memories)

    # ------------------------------------------------------------ resuming
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Kept until before_train: Runner.resume() may re-seed after loading, and only
        # a resume (not load_from) should continue the interrupted run's random streams and memory.
        self._loaded_rng = checkpoint.get('rng_state') if self.save_rng_state else None
        self._loaded_memory = checkpoint.get('synthetic_memory') if self.save_memory else None
        self._loaded_iter = checkpoint.get('meta', {}).get('iter')

    def _restore(self, runner) -> None:
        """Restore this rank's RNG states and replay memory after a resume."""
        saved_rng, saved_memory, saved_iter = self._loaded_rng, self._loaded_memory, self._loaded_iter
        self._loaded_rng = self._loaded_memory = self._loaded_iter = None
        if not runner.iter or runner.iter != saved_iter:
            return  # nothing resumed, or weights loaded with load_from rather than resumed
        rng = self._this_rank(runner, saved_rng, 'RNG states', 'draws other random numbers than the '
                              'interrupted one would have')
        if rng is not None:
            set_rng_state(rng)
            runner.logger.info(f'Restored the RNG states saved at iteration {saved_iter}.')
        memory_state = self._this_rank(runner, saved_memory, 'replay memories',
                                       'refills its replay memory from the generator')
        memory = self._memory(runner)
        if memory_state is None or memory is None:
            return
        try:
            memory.load_state_dict(memory_state)
        except ValueError as err:
            runner.logger.warning(f'{err} The replay memory starts empty.')
            return
        runner.logger.info(f'Restored the replay memory ({len(memory)} images) saved at iteration {saved_iter}.')

    @staticmethod
    def _this_rank(runner, saved: Optional[dict], what: str, consequence: str) -> Optional[dict]:
        """This rank's entry of a per-rank state saved as ``dict(world_size=W, ranks=[...])``, if W matches."""
        if saved is None:
            return None
        world_size = get_world_size()
        if saved.get('world_size') != world_size or len(saved.get('ranks', [])) != world_size:
            runner.logger.warning(
                f'The checkpoint holds the {what} of {saved.get("world_size")} processes and this run has '
                f'{world_size}: they are not restored, so the resumed run {consequence} (training is otherwise '
                'unaffected).')
            return None
        return saved['ranks'][get_rank()]
