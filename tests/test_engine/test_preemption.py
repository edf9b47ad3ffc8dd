"""PreemptionHook: SIGTERM / SIGINT save a checkpoint at the end of the iteration and stop; --resume continues."""
import os
import os.path as osp
import signal
import subprocess
import sys
import uuid

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmdfkd  # noqa: F401  (registries, checkpoint loader)
from mmdfkd.engine import TrainingPreempted
from mmdfkd.engine.checkpoint import load_checkpoint_file
from mmdfkd.engine.launch import apply_resume, build_runner, load_config
from mmdfkd.testing.data_free_config import write_config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

SIGNALLER = '''
import os
import signal

from mmengine.hooks import Hook

from mmdfkd.registry import HOOKS


@HOOKS.register_module()
class SignalDuringIterHook(Hook):
    """Send ``sig`` to this process while iteration ``n`` (1-based) runs, as a scheduler would."""

    def __init__(self, n, sig):
        self.n, self.sig = n, sig

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.n:
            os.kill(os.getpid(), getattr(signal, self.sig))
'''

MEMORY = '''
        model.update(memory_capacity=6)'''


def _signalled_config(tmp_path, n: int, sig: str, interval: int) -> str:
    (tmp_path / 'signaller.py').write_text(SIGNALLER)
    return write_config(tmp_path, name=f'signalled_{sig}', max_iters=4, interval=interval, extra=MEMORY + f'''
        custom_imports = dict(imports=['signaller'], allow_failed_imports=False)
        custom_hooks = [dict(type='SignalDuringIterHook', n={n}, sig={sig!r})]
    ''')


def _runner(config: str, work_dir: str, resume: bool = False) -> Runner:
    """What tools/train.py builds (with the default hooks), with a unique experiment name."""
    cfg = load_config(config, work_dir=work_dir)
    cfg.experiment_name = f'{osp.basename(work_dir)}_{uuid.uuid4().hex[:8]}'
    if resume:
        apply_resume(cfg, 'auto')
    return build_runner(cfg)


def _weights(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.startswith(('student.', 'generator.'))}


def test_sigterm_saves_at_the_end_of_the_iteration_exits_143_and_resumes_bit_identical(tmp_path):
    """tools/train.py gets SIGTERM during iteration 2 of 4 (checkpoints every 3): iter_2.pth, exit 143.

    Resumed with the replay memory on, the run ends with the weights of a run never stopped.
    """
    config = write_config(tmp_path, max_iters=4, interval=3, extra=MEMORY)
    signalled = _signalled_config(tmp_path, n=2, sig='SIGTERM', interval=3)
    work_dir = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.Popen([sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), signalled, '--work-dir',
                             str(work_dir)], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # meanwhile, the uninterrupted reference
        reference = _runner(config, str(tmp_path / 'reference'))
        reference.train()
        expected = _weights(reference.model.state_dict())
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 128 + signal.SIGTERM, (out + err)[-3000:]
        assert err.strip().splitlines()[-1] == (
            f'stopped: SIGTERM received: saved the checkpoint {work_dir / "iter_2.pth"} at iteration 2. '
            'Continue with tools/train.py CONFIG --resume (same --work-dir).')
        assert 'Traceback' not in err
        assert sorted(p for p in os.listdir(work_dir) if p.endswith(('.pth', '.tmp'))) == ['iter_2.pth']
        assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'iter_2.pth')

        resumed = _runner(config, str(work_dir), resume=True)
        resumed.train()
    finally:
        torch.set_num_threads(threads)
    assert resumed.iter == 4
    weights = _weights(load_checkpoint_file(str(work_dir / 'iter_4.pth'))['state_dict'])
    assert weights.keys() == expected.keys()
    different = [k for k in weights if not torch.equal(weights[k], expected[k])]
    assert not different, f'resumed weights differ from the uninterrupted run: {different[:5]}'


def test_sigint_on_a_checkpoint_iteration_saves_once_raises_and_restores_the_handler(tmp_path, monkeypatch):
    config = _signalled_config(tmp_path, n=2, sig='SIGINT', interval=2)
    monkeypatch.syspath_prepend(str(tmp_path))  # custom_imports = ['signaller']
    # Python's default_int_handler, or SIG_IGN when pytest runs as a background job (nohup ... &).
    handler_before = signal.getsignal(signal.SIGINT)
    runner = _runner(config, str(tmp_path / 'work'))
    saves = []
    save = runner.save_checkpoint
    runner.save_checkpoint = lambda *args, **kwargs: saves.append(args[1]) or save(*args, **kwargs)
    with pytest.raises(TrainingPreempted) as info:
        runner.train()
    path = str(tmp_path / 'work' / 'iter_2.pth')
    assert info.value.exit_code == 130 and info.value.checkpoint == path
    assert len(saves) == 1, f'the checkpoint hook saved iteration 2 already; saved again: {saves}'
    assert load_checkpoint_file(path)['meta']['iter'] == 2
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_build_runner_adds_the_fault_hooks_once(tmp_path):
    cfg = Config.fromfile(write_config(tmp_path))
    cfg.custom_hooks = [dict(type='PreemptionHook', signals=['SIGUSR1'])]
    from mmdfkd.engine.launch import add_default_hooks
    add_default_hooks(cfg)
    add_default_hooks(cfg)
    assert [h['type'] for h in cfg.custom_hooks] == ['PreemptionHook', 'TeacherCheckHook']
    assert cfg.custom_hooks[0]['signals'] == ['SIGUSR1']
