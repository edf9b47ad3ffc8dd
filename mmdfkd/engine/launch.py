"""What ``tools/train.py`` and ``tools/test.py`` do to a config before the Runner.

Kept here, not in the tools, so that the tools stay thin and the same steps can
be called from Python (tests, ``tools/run_pipeline.py``).
"""
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner

from mmdfkd.registry import RUNNERS


def load_config(config: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Read ``config``, apply ``--cfg-options`` and resolve ``work_dir``.

    Args:
        config (str): Path of a config file.
        cfg_options (dict, optional): ``key=value`` overrides (dotted keys).
        work_dir (str, optional): Overrides ``cfg.work_dir``. Without either,
            ``./work_dirs/<config name>`` is used, as in MMDetection.
        launcher (str): 'none', 'pytorch', 'slurm' or 'mpi'.

    Returns:
        Config: The resolved config.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'Config file {config!r} does not exist. Configs ship in the repository '
                                'under configs/, e.g. configs/teachers/vitdet_digits-det.py.')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    if launcher != 'none' and not torch.cuda.is_available():
        # NCCL needs GPUs; gloo runs the same collectives on CPU.
        cfg.setdefault('env_cfg', ConfigDict()).setdefault('dist_cfg', ConfigDict())['backend'] = 'gloo'
    return cfg


def enable_amp(cfg: Config) -> None:
    """Switch every optimizer wrapper in ``cfg`` to ``AmpOptimWrapper``.

    Handles a single wrapper (``optim_wrapper=dict(optimizer=...)``) and the
    per-module dict a distiller uses (``optim_wrapper=dict(student=dict(...),
    generator=dict(...))``).
    """
    if not torch.cuda.is_available():
        raise RuntimeError('--amp needs a CUDA GPU (MMEngine\'s AmpOptimWrapper does not run on CPU); '
                           'drop --amp to train in fp32 on this machine.')
    wrapper = cfg.optim_wrapper
    wrappers = [wrapper] if 'optimizer' in wrapper else [
        sub for sub in wrapper.values() if isinstance(sub, dict) and 'optimizer' in sub]
    for sub in wrappers:
        sub['type'] = 'AmpOptimWrapper'
        sub['loss_scale'] = 'dynamic'


def apply_resume(cfg: Config, resume: Optional[str]) -> None:
    """``--resume`` without a path resumes from the work dir's last checkpoint."""
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume {resume!r}: no such checkpoint. Pass a .pth written by '
                                    'tools/train.py, or --resume alone to pick the latest in the work dir.')
        cfg.resume = True
        cfg.load_from = resume


def build_runner(cfg: Config) -> Runner:
    """Build the Runner, or the custom one named by ``cfg.runner_type``."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
