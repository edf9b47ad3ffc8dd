"""What ``tools/train.py`` and ``tools/test.py`` do to a config before the Runner.

Kept here, not in the tools, so that the tools stay thin and the same steps can
be called from Python (tests, ``tools/run_pipeline.py``).
"""
import datetime
import logging
import os.path as osp
from typing import Iterator, Optional, Sequence

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.runner import Runner

from mmdfkd.registry import RUNNERS

# Seconds a collective operation waits for the other ranks before failing (env_cfg.dist_cfg.timeout).
DEFAULT_DIST_TIMEOUT_S = 120
# Added to every Runner that build_runner builds (PreemptionHook) and to data-free ones (TeacherCheckHook).
_DEFAULT_HOOKS = ('PreemptionHook', )
_DATA_FREE_HOOKS = ('TeacherCheckHook', )


def load_config(config: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                launcher: str = 'none', check_data: Sequence[str] = ()) -> Config:
    """Read ``config``, apply ``--cfg-options`` and resolve ``work_dir``.

    Launched distributed, collectives time out after
    ``env_cfg.dist_cfg.timeout`` seconds (default
    :data:`DEFAULT_DIST_TIMEOUT_S`), so that the other ranks stop when one
    dies instead of waiting for ever, and a ``DataFreeDistiller`` gets the
    defaults it needs (:func:`apply_data_free_dist_defaults`).

    Args:
        config (str): Path of a config file.
        cfg_options (dict, optional): ``key=value`` overrides (dotted keys).
        work_dir (str, optional): Overrides ``cfg.work_dir``. Without either,
            ``./work_dirs/<config name>`` is used, as in MMDetection.
        launcher (str): 'none', 'pytorch', 'slurm' or 'mpi'.
        check_data (Sequence[str]): splits ('train', 'val', 'test') whose
            files must exist; see :func:`check_data_files`.

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
    if launcher != 'none':
        dist_cfg = cfg.setdefault('env_cfg', ConfigDict()).setdefault('dist_cfg', ConfigDict())
        if not torch.cuda.is_available():
            dist_cfg['backend'] = 'gloo'  # NCCL needs GPUs; gloo runs the same collectives on CPU.
        dist_cfg.setdefault('timeout', DEFAULT_DIST_TIMEOUT_S)
        apply_data_free_dist_defaults(cfg)
    check_data_files(cfg, check_data)
    apply_config_amp(cfg)
    return cfg


def _is_distiller(cfg: Config) -> bool:
    from mmdfkd.models.distiller import DISTILLER_TYPES
    return (cfg.get('model') or {}).get('type') in DISTILLER_TYPES


def apply_data_free_dist_defaults(cfg: Config) -> None:
    """Distributed data-free training: ``DataFreeDDP`` and one seed per rank.

    For a ``DataFreeDistiller`` whose config does not say otherwise, sets
    ``model_wrapper_cfg=dict(type='DataFreeDDP')`` (MMEngine's DDP wrapper
    would bypass the distiller's ``train_step``) and
    ``randomness.diff_rank_seed=True`` (so that ranks synthesise different
    images). Other models are left alone.
    """
    if not _is_distiller(cfg):
        return
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = ConfigDict(type='DataFreeDDP')
    randomness = cfg.get('randomness') or ConfigDict()
    randomness.setdefault('diff_rank_seed', True)
    cfg.randomness = randomness


# The prepare command of each bundled benchmark, by the dataset type or a folder name in its path.
_BUNDLED = {'digits-det': 'python tools/prepare_data.py digits-det --out {root}',
            'digits-cls': 'python tools/prepare_data.py digits-cls --out {root}'}


def _datasets(cfg: Optional[dict]) -> Iterator[dict]:
    """A dataset config and those it wraps (RepeatDataset, ConcatDataset, ...)."""
    if not isinstance(cfg, dict):
        return
    yield cfg
    yield from _datasets(cfg.get('dataset'))
    for sub in cfg.get('datasets', None) or []:
        yield from _datasets(sub)


def _missing_data_error(split: str, where: str, path: str, data_root: str, dataset_type: str) -> FileNotFoundError:
    root = data_root.rstrip('/') if data_root else osp.dirname(osp.dirname(path)) or '.'
    benchmark = 'digits-cls' if dataset_type == 'DigitsClsDataset' else next(
        (name for name in _BUNDLED if name in path.replace(osp.sep, '/')), None)
    if benchmark is not None:
        hint = f'Build the bundled {benchmark} benchmark there with: {_BUNDLED[benchmark].format(root=root)}'
    else:
        hint = (f'Put the data there, or point the config at it: --cfg-options {split}_dataloader.dataset.data_root='
                'DIR/' + (f' {split}_evaluator.ann_file=DIR/annotations/<file>.json' if split != 'train' else '') + '.')
    return FileNotFoundError(f'{split} data not found: {path} (from {where}). {hint}')


def check_data_files(cfg: Config, splits: Sequence[str] = ('train', 'val')) -> None:
    """Fail before anything is built when a split's annotation file or image folder is missing.

    Checks, for each split, the dataset(s) of ``<split>_dataloader`` (its
    ``ann_file`` under ``data_root`` and ``data_prefix`` folders) and the
    ``ann_file`` of ``<split>_evaluator``; 'val' and 'test' only when their
    loop is configured (``val_cfg`` / ``test_cfg``). Data-free training sets
    (``LatentDataset``) and remote paths (``s3://``) are skipped. The error
    names the missing path and, for the bundled Digits benchmarks, the
    ``tools/prepare_data.py`` command that builds it.

    Args:
        cfg (Config): A loaded config.
        splits (Sequence[str]): Any of 'train', 'val', 'test'.
    """
    for split in splits:
        if split != 'train' and not cfg.get(f'{split}_cfg'):
            continue
        loader = cfg.get(f'{split}_dataloader') or {}
        data_root, dataset_type = '', ''
        for dataset in _datasets(loader.get('dataset')):
            if dataset.get('type') in ('LatentDataset', 'mmdfkd.LatentDataset'):
                continue
            data_root = dataset.get('data_root') or data_root
            dataset_type = dataset.get('type') if isinstance(dataset.get('type'), str) else dataset_type
            root = dataset.get('data_root') or ''
            ann_file = dataset.get('ann_file')
            if ann_file:
                path = ann_file if osp.isabs(ann_file) else osp.join(root, ann_file)
                if '://' not in path and not osp.isfile(path):
                    raise _missing_data_error(split, f'{split}_dataloader.dataset', path, root, dataset_type)
            prefix = dataset.get('data_prefix') or {}
            for key, folder in (prefix.items() if isinstance(prefix, dict) else []):
                path = folder if osp.isabs(folder) else osp.join(root, folder)
                if folder and '://' not in path and not osp.isdir(path):
                    raise _missing_data_error(split, f'{split}_dataloader.dataset.data_prefix.{key}', path, root,
                                              dataset_type)
        evaluators = cfg.get(f'{split}_evaluator') if split != 'train' else None
        for evaluator in (evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]):
            ann_file = evaluator.get('ann_file') if isinstance(evaluator, dict) else None
            if ann_file and '://' not in ann_file and not osp.isfile(ann_file):
                raise _missing_data_error(split, f'{split}_evaluator.ann_file', ann_file, data_root, dataset_type)


def enable_amp(cfg: Config) -> None:
    """Switch every optimizer wrapper in ``cfg`` to mixed precision.

    On a GPU: MMEngine's ``AmpOptimWrapper`` (fp16 with dynamic loss scaling).
    On a CPU: :class:`~mmdfkd.engine.amp.CPUBF16OptimWrapper` (bf16 autocast),
    refused with a clear error where the CPU has no native bf16. Handles a
    single wrapper (``optim_wrapper=dict(optimizer=...)``) and the per-module
    dict a distiller uses (``optim_wrapper=dict(student=dict(...),
    generator=dict(...))``).
    """
    from .amp import check_cpu_bf16
    on_gpu = torch.cuda.is_available()
    if not on_gpu:
        check_cpu_bf16()
    wrapper = cfg.optim_wrapper
    wrappers = [wrapper] if 'optimizer' in wrapper else [
        sub for sub in wrapper.values() if isinstance(sub, dict) and 'optimizer' in sub]
    for sub in wrappers:
        if on_gpu:
            sub['type'] = 'AmpOptimWrapper'
            sub['loss_scale'] = 'dynamic'
        else:
            sub['type'] = 'CPUBF16OptimWrapper'


def mixed_precision_available() -> bool:
    """Whether :func:`enable_amp` can run here: a CUDA GPU, or a CPU with native bf16."""
    from .amp import cpu_bf16_flags
    return torch.cuda.is_available() or bool(cpu_bf16_flags())


def apply_config_amp(cfg: Config) -> None:
    """Honour a config's ``amp`` key: ``True`` as ``--amp``; ``'auto'`` where it runs natively, else fp32.

    ``amp='auto'`` lets a recipe ask for mixed precision and still run on a
    machine without it (a CPU without native bf16 trains in fp32 and says
    so); ``amp=True`` refuses such a machine, as ``--amp`` does.
    """
    amp = cfg.get('amp', False)
    if amp not in (True, False, 'auto'):
        raise ValueError(f"amp={amp!r} in the config: use True (mixed precision, refused where it would be "
                         "emulated), 'auto' (mixed precision where this machine has it, else fp32) or False.")
    if amp == 'auto' and not mixed_precision_available():
        print_log("amp='auto': this machine has neither a CUDA GPU nor a CPU with native bf16, so training runs "
                  'in fp32.', logger='current', level=logging.WARNING)
        return
    if amp:
        enable_amp(cfg)


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


def init_cpu_distributed(cfg: Config) -> None:
    """Start the gloo process group for ``--launcher pytorch`` on a machine without CUDA.

    MMEngine's ``init_dist('pytorch')`` calls ``torch.cuda.set_device``,
    which fails without a GPU even when the backend is gloo; the Runner
    skips its own initialisation when a group exists already.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    if not dist.is_available() or dist.is_initialized():
        return
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    dist_cfg['backend'] = 'gloo'
    if dist_cfg.get('timeout') is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    dist.init_process_group(**dist_cfg)


def close_distributed() -> None:
    """Destroy the default process group, if one was started, once a run has finished.

    A process that exits with its gloo group alive can abort at interpreter
    teardown ("terminate called without an active exception",
    pytorch/pytorch#190489) although training succeeded: gloo's worker threads
    still hold work when the interpreter is torn down, after a run that
    succeeded as after one whose peer died. :func:`~mmdfkd.engine.cli.run_cli`
    calls this when any tool ends.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def add_default_hooks(cfg: Config) -> None:
    """Append the fault-handling hooks to ``cfg.custom_hooks``, unless they are there already.

    Every run gets :class:`~mmdfkd.engine.PreemptionHook` (SIGTERM / SIGINT
    save a checkpoint and stop); a ``DataFreeDistiller`` also gets
    :class:`~mmdfkd.engine.TeacherCheckHook` (a teacher whose outputs are not
    finite is refused at start). A config that lists one of them in
    ``custom_hooks`` keeps its own settings.
    """
    hooks = list(cfg.get('custom_hooks') or [])
    present = {str(hook.get('type', '')).split('.')[-1] for hook in hooks if isinstance(hook, dict)}
    wanted = _DEFAULT_HOOKS + (_DATA_FREE_HOOKS if _is_distiller(cfg) else ())
    cfg.custom_hooks = hooks + [dict(type=name) for name in wanted if name not in present]


def build_runner(cfg: Config) -> Runner:
    """Build the Runner (or the custom one named by ``cfg.runner_type``) with :func:`add_default_hooks`."""
    add_default_hooks(cfg)
    init_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
