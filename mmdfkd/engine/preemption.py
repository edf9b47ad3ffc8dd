"""Stop cleanly on SIGTERM / SIGINT: :class:`PreemptionHook`."""
import signal
import threading
from typing import Dict, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

from mmdfkd.registry import HOOKS


class TrainingPreempted(Exception):
    """Training stopped on a signal after writing a checkpoint; ``exit_code`` is ``128 + signal``.

    Attributes:
        signum (int): The signal received.
        checkpoint (str | None): The checkpoint written, if any.
        exit_code (int): What a tool exits with (143 for SIGTERM, 130 for SIGINT).
    """

    def __init__(self, message: str, signum: int, checkpoint: Optional[str]) -> None:
        super().__init__(message)
        self.signum = signum
        self.checkpoint = checkpoint
        self.exit_code = 128 + signum


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On SIGTERM or SIGINT, save a checkpoint at the end of the iteration, then stop.

    Schedulers (slurm, Kubernetes) send SIGTERM before they kill a job; Ctrl-C
    sends SIGINT. While training, the first such signal is only recorded; at
    the end of the iteration in progress the checkpoint hook saves
    ``iter_<n>.pth`` (atomically, with RNG states and replay memory, for an
    :class:`~mmdfkd.engine.AtomicCheckpointHook`) unless it has just saved
    that iteration, and :class:`TrainingPreempted` is raised. The tools exit
    on it with one line and code ``128 + signal`` (143 for SIGTERM, 130 for
    SIGINT), so that ``train && test`` does not go on with a half-trained
    model; ``tools/train.py CONFIG --resume`` continues exactly where it
    stopped. A second signal acts as it would without this hook (SIGINT
    raises ``KeyboardInterrupt``, SIGTERM kills) for a user who does not want
    to wait.

    With several processes, every rank learns of a signal any rank got (one
    all-reduce of a scalar per iteration), so they save and stop together.
    Handlers are installed from the main thread only, at ``before_train``,
    and the previous ones are back after training.

    ``tools/train.py`` (through :func:`mmdfkd.engine.launch.build_runner`)
    adds this hook to every training run.

    Args:
        signals (Sequence[str]): Signal names to handle. Default: SIGTERM, SIGINT.
    """

    priority = 'LOWEST'  # after the checkpoint hook's own save of this iteration

    def __init__(self, signals: Sequence[str] = ('SIGTERM', 'SIGINT')) -> None:
        unknown = [name for name in signals if not isinstance(getattr(signal, str(name), None), signal.Signals)]
        if unknown:
            raise ValueError(f'PreemptionHook: unknown signal names {unknown}; use names such as SIGTERM, SIGINT, '
                             'SIGUSR1.')
        self.signals = tuple(signals)
        self._received: Optional[int] = None
        self._previous: Dict[int, object] = {}

    # ---------------------------------------------------------- signals
    def _handle(self, signum: int, frame) -> None:
        self._received = signum
        self._restore_handlers()
        print_log(f'Received {signal.Signals(signum).name}: saving a checkpoint at the end of this iteration, then '
                  'stopping (send it again to stop at once, without one).', logger='current', level=30)

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def before_train(self, runner) -> None:
        self._received = None
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('PreemptionHook: training runs outside the main thread, where signal handlers '
                                  'cannot be installed; SIGTERM / SIGINT stop it without a checkpoint.')
            return
        for name in self.signals:
            signum = getattr(signal, name)
            self._previous[signum] = signal.signal(signum, self._handle)

    def after_train(self, runner) -> None:
        self._restore_handlers()

    def _signal_on_any_rank(self) -> Optional[int]:
        if get_world_size() == 1:
            return self._received
        flag = torch.tensor([self._received or 0], dtype=torch.int64)
        all_reduce(flag, op='max')
        return int(flag.item()) or None

    # ---------------------------------------------------------- stopping
    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        signum = self._signal_on_any_rank()
        if signum is None:
            return
        self._restore_handlers()
        name, step = signal.Signals(signum).name, runner.iter + 1
        hook = next((h for h in runner.hooks if isinstance(h, CheckpointHook)), None)
        if hook is None or hook.by_epoch:
            why = 'no CheckpointHook is configured' if hook is None else 'the checkpoint hook saves by epoch'
            raise TrainingPreempted(f'{name} received: stopped after iteration {step} without a checkpoint ({why}); '
                                    '--resume continues from the last checkpoint saved.', signum, None)
        path = hook.file_backend.join_path(hook.out_dir, hook.filename_tmpl.format(step))
        if hook.last_ckpt != path:  # not saved by the checkpoint hook at this very iteration
            hook._save_checkpoint_with_step(runner, step, dict(epoch=runner.epoch, iter=step))
        runner.logger.info(f'{name} received: saved {path} at iteration {step}; stopping.')
        raise TrainingPreempted(f'{name} received: saved the checkpoint {path} at iteration {step}. Continue with '
                                'tools/train.py CONFIG --resume (same --work-dir).', signum, path)
