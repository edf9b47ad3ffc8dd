"""AtomicCheckpointHook: crash-safe files, exact resume after SIGKILL, deterministic runs."""
import os
import os.path as osp
import signal
import subprocess
import sys
import uuid

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.runner import Runner

import mmdfkd  # noqa: F401  (allow-list, loader)
from mmdfkd.engine.checkpoint import load_checkpoint_file
from mmdfkd.engine.launch import apply_resume, build_runner, load_config
from tiny_data_free import write_config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _unique_name(work_dir: str) -> str:
    # MMEngine names a Runner's MessageHub/logger by its timestamp: two Runners built in the
    # same second of one process would share them.
    return f'{osp.basename(work_dir)}_{uuid.uuid4().hex[:8]}'


def _run(config: str, work_dir: str, **cfg_options) -> Runner:
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.experiment_name = _unique_name(work_dir)
    cfg.merge_from_dict(cfg_options)
    return Runner.from_cfg(cfg)


def _student_and_generator(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.startswith(('student.', 'generator.'))}


def test_same_seed_gives_identical_synthetic_batches_and_student(tmp_path):
    """Two CPU runs seeded as the Runner seeds them: the same images and weights, step by step."""
    from mmengine.runner import set_random_seed

    from mmdfkd.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
    cfg = Config.fromfile(write_config(tmp_path))
    results = []
    for _ in range(2):
        set_random_seed(0)
        model = MODELS.build(cfg.model)
        optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type=cfg.optim_wrapper.constructor,
                                                      optim_wrapper_cfg=cfg.optim_wrapper))(model)
        model.train()
        batches = []
        for _ in range(3):
            model.train_step(dict(index=[0, 1, 2, 3]), optim)
            batches.append(model.last_synthetic.clone())
        results.append((batches, _student_and_generator(model.state_dict())))
    (batches_a, weights_a), (batches_b, weights_b) = results
    assert all(torch.equal(a, b) for a, b in zip(batches_a, batches_b))
    assert not torch.equal(batches_a[0], batches_a[1]), 'each iteration synthesises new images'
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_interrupted_save_keeps_previous_checkpoint_and_leaves_no_partial_file(tmp_path, monkeypatch):
    """max_keep_ckpts=1, a checkpoint every iteration, and the disk fills up while iter_3.pth is written."""
    config = write_config(tmp_path, max_iters=3, interval=1)
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / '.iter_9.pth.tmp').write_bytes(b'partial')  # left by an earlier, killed save
    real_put = LocalBackend.put

    def disk_full_at_iter_3(self, obj, filepath):
        if 'iter_3' in str(filepath):
            with open(filepath, 'wb') as f:  # half the file reaches the disk, then the write fails
                f.write(obj[:len(obj) // 2])
            raise OSError(28, 'No space left on device')
        return real_put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', disk_full_at_iter_3)
    runner = _run(config, str(work_dir), **{'default_hooks.checkpoint.max_keep_ckpts': 1})
    with pytest.raises(OSError, match='No space left'):
        runner.train()

    # iter_1 was deleted once iter_2 was complete; iter_2 survives the failed save of iter_3
    # (MMEngine's CheckpointHook deletes it first); no partial or temporary file is left.
    assert sorted(p for p in os.listdir(work_dir) if p.endswith(('.pth', '.tmp'))) == ['iter_2.pth']
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'iter_2.pth')
    ckpt = load_checkpoint_file(str(work_dir / 'iter_2.pth'))  # complete and loadable, weights_only=True
    assert ckpt['meta']['iter'] == 2 and ckpt['rng_state']['world_size'] == 1
    assert any(k.startswith('student.') for k in ckpt['state_dict'])


KILLER = '''
import os
import signal

from mmengine.hooks import Hook

from mmdfkd.registry import HOOKS


@HOOKS.register_module()
class KillAfterIterHook(Hook):
    """SIGKILL this process at the end of iteration ``n`` (1-based): no cleanup, no atexit."""

    priority = 'LOWEST'

    def __init__(self, n):
        self.n = n

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.n:
            os.kill(os.getpid(), signal.SIGKILL)
'''


def test_sigkilled_run_resumes_to_the_uninterrupted_weights(tmp_path):
    """tools/train.py SIGKILLed after iteration 3 of 4, resumed: bit-identical to a run never killed.

    Exact because the checkpoint carries the RNG states (the generator's latent and the
    augmentation are drawn from them) and the test config has no replay memory. The
    uninterrupted reference and the resume run in this process, with the killed
    subprocess's thread count.
    """
    config = write_config(tmp_path, max_iters=4, interval=2)
    (tmp_path / 'killer.py').write_text(KILLER)
    killed_config = write_config(tmp_path, name='killed', max_iters=4, interval=2, extra='''
        custom_imports = dict(imports=['killer'], allow_failed_imports=False)
        custom_hooks = [dict(type='KillAfterIterHook', n=3)]
    ''')
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get('PYTHONPATH', '')]))
    work_dir = tmp_path / 'resumed'

    def start(cfg, *args):
        return subprocess.Popen([sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), cfg, '--work-dir',
                                 str(work_dir), *args], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    killed = start(killed_config)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # meanwhile, the reference
        reference = _run(config, str(tmp_path / 'reference'))
        reference.train()
    finally:
        torch.set_num_threads(threads)
    expected = _student_and_generator(reference.model.state_dict())
    out_killed, _ = killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL, out_killed[-3000:]
    assert sorted(p for p in os.listdir(work_dir) if p.endswith('.pth')) == ['iter_2.pth']

    # Resume as tools/train.py --resume does (same functions, this process: no second start-up).
    torch.set_num_threads(1)
    try:
        cfg = load_config(config, work_dir=str(work_dir))
        cfg.experiment_name = _unique_name(str(work_dir))
        apply_resume(cfg, 'auto')
        resumed = build_runner(cfg)
        resumed.train()
    finally:
        torch.set_num_threads(threads)
    assert resumed.iter == 4

    final = load_checkpoint_file(str(work_dir / 'iter_4.pth'))
    assert final['meta']['iter'] == 4
    weights = _student_and_generator(final['state_dict'])
    assert weights.keys() == expected.keys() and any(k.startswith('student.') for k in weights)
    different = [k for k in weights if not torch.equal(weights[k], expected[k])]
    assert not different, f'resumed weights differ from the uninterrupted run: {different[:5]}'
