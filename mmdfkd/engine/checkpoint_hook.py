"""Crash-safe checkpoints that resume bit for bit: :class:`AtomicCheckpointHook`."""
import glob
import os
import os.path as osp
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size, is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

from mmdfkd.registry import HOOKS

TMP_SUFFIX = '.tmp'


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


def _fsync(path: str) -> None:
    """Flush ``path`` (a file or a folder) to disk; folders are skipped where the OS cannot open them."""
    flags = (os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0)) if osp.isdir(path) else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # e.g. folders on Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new content, never a part."""
    tmp = f'{path}{TMP_SUFFIX}'
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync(osp.dirname(osp.abspath(path)))


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook`` with crash-safe files and exact resume.

    Same arguments and behaviour as :class:`mmengine.hooks.CheckpointHook`
    (it is the ``default_hooks.checkpoint`` of ``configs/_base_/default_runtime.py``),
    except that:

    1. **Atomic files.** A checkpoint is saved by ``Runner.save_checkpoint``
       under a hidden temporary name in the same folder
       (``.iter_4.pth.tmp``), fsynced, then ``os.replace``-d onto its final
       name, and the folder is fsynced. A crash, a kill or a full disk leaves
       the earlier checkpoints and either the complete new file or none:
       never a truncated file under a checkpoint's name. Stale temporary
       files are deleted when training starts.
    2. **``last_checkpoint``** (what ``--resume`` without a path reads) is
       written the same way, after the rename, so it always names a
       complete file.
    3. **Old checkpoints are deleted after** the new one is in place
       (``max_keep_ckpts``); MMEngine deletes first, so with
       ``max_keep_ckpts=1`` a crash mid-save would leave no checkpoint.
    4. **RNG states** (``save_rng_state=True``): every checkpoint carries the
       python, numpy, torch and CUDA RNG states of every rank
       (``checkpoint['rng_state'] = dict(world_size=W, ranks=[...])``,
       gathered from all ranks); ``--resume`` restores this rank's states
       just before the first resumed iteration. MMEngine re-seeds instead,
       so a resumed data-free run would synthesise other images than the
       interrupted one. With the states restored, a resumed run on the same
       hardware and world size reproduces the uninterrupted run's weights,
       provided that nothing else un-checkpointed carries state: the
       distiller's replay memory (``memory_capacity > 0``) is not saved and
       is refilled from the generator after a resume, which changes which
       images the student replays (same distribution, different draws).
       ``load_from`` without resume does not restore RNG states.

    Only local folders get atomic writes; other backends (``backend_args``
    for object stores, which replace objects whole) and ``save_best``
    checkpoints go through MMEngine's own code unchanged.

    Args:
        save_rng_state (bool): Store and restore RNG states. Default: True.
        **kwargs: As for :class:`mmengine.hooks.CheckpointHook`.
    """

    def __init__(self, *args, save_rng_state: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.save_rng_state = save_rng_state
        self._rng_states: Optional[List[dict]] = None  # gathered for the save in progress
        self._loaded_rng: Optional[dict] = None
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
        self._restore_rng(runner)

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
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old_step))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # checkpoints saved by deepspeed are folders
                self.file_backend.rmtree(path)

    def _save_atomically(self, runner, filename: str, meta: dict) -> None:
        """``runner.save_checkpoint`` to a temporary name, then fsync and rename (main process)."""
        kwargs = dict(save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
                      meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if self.save_rng_state:  # every rank takes part; only the main one writes
            state = rng_state()
            self._rng_states = all_gather_object(state) if get_world_size() > 1 else [state]
        try:
            if not self._is_local():
                runner.save_checkpoint(self.out_dir, filename, self.file_client_args, **kwargs)
                return
            folder, name = osp.split(filename)
            tmp_name = osp.join(folder, f'.{name}{TMP_SUFFIX}')
            tmp_path, final_path = osp.join(self.out_dir, tmp_name), osp.join(self.out_dir, filename)
            try:
                runner.save_checkpoint(self.out_dir, tmp_name, self.file_client_args, **kwargs)
                if is_main_process():
                    _fsync(tmp_path)
                    os.replace(tmp_path, final_path)
                    _fsync(osp.dirname(final_path))
            except BaseException:
                if is_main_process() and osp.exists(tmp_path):
                    os.remove(tmp_path)
                raise
        finally:
            self._rng_states = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.save_rng_state:
            return
        states = self._rng_states
        if states is None and get_world_size() == 1:  # a save that did not come through this hook
            states = [rng_state()]
        if states is not None:
            checkpoint['rng_state'] = dict(world_size=len(states), ranks=states)

    # ------------------------------------------------------------ resuming
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Kept until before_train: Runner.resume() may re-seed after loading, and only
        # a resume (not load_from) should continue the interrupted run's random streams.
        self._loaded_rng = checkpoint.get('rng_state') if self.save_rng_state else None
        self._loaded_iter = checkpoint.get('meta', {}).get('iter')

    def _restore_rng(self, runner) -> None:
        saved, saved_iter = self._loaded_rng, self._loaded_iter
        self._loaded_rng = self._loaded_iter = None
        if saved is None or not runner.iter or runner.iter != saved_iter:
            return  # nothing saved, or weights loaded with load_from rather than resumed
        world_size = get_world_size()
        if saved.get('world_size') != world_size or len(saved.get('ranks', [])) != world_size:
            runner.logger.warning(
                f'The checkpoint holds the RNG states of {saved.get("world_size")} processes and this run has '
                f'{world_size}: RNG states are not restored, so the resumed run draws other random numbers than '
                'the interrupted one would have (training is otherwise unaffected).')
            return
        set_rng_state(saved['ranks'][get_rank()])
        runner.logger.info(f'Restored the RNG states saved at iteration {saved_iter}.')
