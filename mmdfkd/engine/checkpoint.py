"""Make MMEngine checkpoints load under torch >= 2.6 without trusting every file.

torch >= 2.6 loads with ``weights_only=True`` by default: only tensors, plain
containers and an allow-list of globals may be unpickled. MMEngine 0.10.7 calls
a plain ``torch.load`` and its Runner stores more than tensors in ``meta``:

* ``message_hub.log_scalars``: :class:`mmengine.logging.HistoryBuffer` objects,
  whose state holds numpy arrays and a table of statistics methods that pickle
  as ``getattr(HistoryBuffer, 'mean')``;
* ``message_hub.runtime_info``: numpy scalars.

:func:`register_mmengine_safe_globals` allow-lists exactly those globals. The
``getattr`` global is mapped to :func:`_history_buffer_statistic`, which only
resolves HistoryBuffer's registered statistics methods, so a checkpoint cannot
use it to reach any other attribute. Nothing sets ``weights_only=False``.

Trust model (README "Checkpoints and trust"): every checkpoint mmdfkd reads
(the distiller's teacher, ``load_from``, ``--resume``, ``tools/test.py``,
pretrained backbones through MMEngine's ``CheckpointLoader``) goes through
:func:`load_checkpoint_file`, which passes ``weights_only=True`` explicitly, so
not even torch's ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` switches it off. A file
that needs a type outside the allow-list is refused with
:class:`UntrustedCheckpointError`, which names the type and the two ways to
allow exactly that type for a file the user trusts: the
``torch.serialization.safe_globals([...])`` context in Python, or
``MMDFKD_SAFE_GLOBALS=module.Type[,module.Other]`` for the tools. There is no
switch that trusts every type.
"""
import importlib
import os
import os.path as osp
import pickle
import re
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

SafeGlobal = Union[Callable, Tuple[Callable, str]]
# HistoryBuffer registers these four lazily, in its __init__; custom ones via register_statistics.
_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_statistic(owner: type, name: str) -> Callable:
    """Stand-in for ``builtins.getattr`` while unpickling a checkpoint.

    Args:
        owner (type): Must be :class:`HistoryBuffer`.
        name (str): A statistics method registered on it ('mean', 'min', ...).

    Returns:
        Callable: ``HistoryBuffer.<name>``.
    """
    allowed = set(_DEFAULT_STATISTICS) | set(HistoryBuffer._statistics_methods)
    if owner is not HistoryBuffer or name not in allowed:
        raise RuntimeError(
            f'Refusing to resolve getattr({owner!r}, {name!r}) while loading a checkpoint: '
            'only the statistics methods of mmengine.logging.HistoryBuffer are allowed. '
            'If you trust this file, load it inside '
            '`with torch.serialization.safe_globals([...])` naming the types it needs.')
    return getattr(owner, name)


def mmengine_safe_globals() -> List[SafeGlobal]:
    """The globals an MMEngine Runner checkpoint needs, and nothing more.

    Returns:
        list: Entries for :func:`torch.serialization.add_safe_globals`.
    """
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    entries: List[SafeGlobal] = [HistoryBuffer, np.ndarray, np.dtype,
                                 (_history_buffer_statistic, 'builtins.getattr')]
    # numpy 1.x writes numpy.core.*, numpy 2.x numpy._core.*: accept both spellings.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    # numpy >= 1.25 may pickle a dtype through its class, e.g. numpy.dtypes.Float64DType.
    if hasattr(np, 'dtypes'):
        for dtype in (np.float64, np.float32, np.float16, np.int64, np.int32, np.uint8, np.bool_):
            cls = type(np.dtype(dtype))
            entries.append((cls, f'numpy.dtypes.{cls.__name__}'))
    return entries


def register_mmengine_safe_globals() -> None:
    """Allow-list :func:`mmengine_safe_globals` for every later ``torch.load``.

    Idempotent; a no-op on torch < 2.4, which has no allow-list.
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:
        add(mmengine_safe_globals())


# ---------------------------------------------------------------- trust model
ENV_SAFE_GLOBALS = 'MMDFKD_SAFE_GLOBALS'
# Modules whose callables turn unpickling into code execution; never allow-listed from the environment.
_NEVER_TRUSTED = ('builtins', 'os', 'posix', 'nt', 'sys', 'subprocess', 'shutil', 'importlib', 'runpy', 'pickle',
                  'marshal', 'ctypes', 'socket', 'code', 'codeop', 'pty', 'io', 'functools', 'operator', 'types',
                  'inspect', 'webbrowser', 'torch.hub', 'numpy.testing')


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a type outside the allow-list, so it was not loaded."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is truncated or damaged."""


def _refusal_message(path: str, names: List[str]) -> str:
    listed = ', '.join(names)
    return (f'Refused to load checkpoint {path!r}: it contains {listed}, which is not on the allow-list of '
            'checkpoint types. mmdfkd loads checkpoints with torch.load(weights_only=True) and never falls back '
            'to weights_only=False, because unpickling an arbitrary type can run code hidden in the file. '
            'Checkpoints written by mmdfkd and MMEngine need no extra types. If you trust this file and these '
            'types, allow exactly them: in Python, load inside `with torch.serialization.safe_globals(['
            f'{listed}]): ...`; for tools/train.py and tools/test.py, set {ENV_SAFE_GLOBALS}={",".join(names)}. '
            'Or, once, re-save only the weights from a trusted environment: '
            "torch.save({'state_dict': checkpoint['state_dict']}, 'weights.pth').")


def _untrusted(path: str, err: pickle.UnpicklingError) -> UntrustedCheckpointError:
    """Our refusal for torch's weights-only unpickling error ``err``."""
    names = re.findall(r'GLOBAL ([\w.]+) was not an allowed global', str(err))
    if names:
        return UntrustedCheckpointError(_refusal_message(path, list(dict.fromkeys(names))))
    detail = re.search(r'WeightsUnpickler error:\s*(.+?)(?:\n\n|$)', str(err), re.S)
    detail = detail.group(1).strip() if detail else str(err).splitlines()[0]
    return UntrustedCheckpointError(
        f'Refused to load checkpoint {path!r}: it is not a plain weights file that '
        f'torch.load(weights_only=True) can read ({detail[:200]}). mmdfkd never falls back '
        'to weights_only=False. If you trust the file, re-save only its weights from a trusted environment: '
        "torch.save({'state_dict': checkpoint['state_dict']}, 'weights.pth').")


def load_checkpoint_file(path: str, map_location: Any = 'cpu') -> Any:
    """``torch.load(path, weights_only=True)`` with errors that say what to do.

    Args:
        path (str): A local checkpoint file.
        map_location: As for :func:`torch.load`.

    Returns:
        The unpickled object (normally a dict).

    Raises:
        UntrustedCheckpointError: The file needs a type outside the allow-list
            (the message names it and how to allow it for a trusted file).
        CorruptCheckpointError: The file is truncated or damaged.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        # `from None`: torch's own message suggests weights_only=False, which this package never uses.
        raise _untrusted(path, err) from None
    except RuntimeError as err:
        if 'PytorchStreamReader' in str(err) or 'central directory' in str(err):
            raise CorruptCheckpointError(
                f'Checkpoint {path!r} is truncated or damaged ({str(err).split(". ")[0]}): it may have been cut off '
                'by a crash, a full disk or an incomplete copy. Use an earlier checkpoint (tools/train.py writes '
                'them atomically: iter_<n>.pth files in the work dir are complete) or copy the file again.') from err
        raise


def _load_from_local(filename: str, map_location: Any = None) -> Any:
    """MMEngine's local checkpoint loader, through :func:`load_checkpoint_file`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_checkpoint_file(filename, map_location)


def load_url_weights_only(url: str, model_dir: Optional[str] = None, map_location: Any = None,
                          **kwargs) -> Any:
    """``torch.hub.load_state_dict_from_url`` with ``weights_only=True``.

    MMEngine's URL loader (``http(s)://``, ``torchvision://``,
    ``open-mmlab://``, ``mmcls://``) calls torch's, whose ``weights_only``
    defaults to False: a downloaded file could run code.
    """
    kwargs['weights_only'] = True
    try:
        return torch.hub.load_state_dict_from_url(url, model_dir=model_dir, map_location=map_location, **kwargs)
    except pickle.UnpicklingError as err:
        raise _untrusted(url, err) from None


def register_checkpoint_loader() -> None:
    """Make MMEngine read checkpoints with ``weights_only=True`` only.

    Replaces the loader MMEngine registers for plain paths (prefix ``''``) in
    :class:`mmengine.runner.CheckpointLoader`, which ``load_from``,
    ``--resume``, ``tools/test.py`` and ``init_cfg=dict(type='Pretrained')``
    use, with :func:`load_checkpoint_file`; and the ``load_url`` its URL
    loaders call with :func:`load_url_weights_only`. (The cluster loaders
    ``pavi://`` and ``s3://`` call ``torch.load`` with torch's default, which
    is ``weights_only=True`` on torch >= 2.6.) Idempotent.
    """
    from mmengine.runner import checkpoint as mmengine_checkpoint
    mmengine_checkpoint.CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local, force=True)
    mmengine_checkpoint.load_url = load_url_weights_only


def _resolve_global(name: str) -> Any:
    """``'package.module.Type'`` -> the object, importing the longest module prefix."""
    parts = name.split('.')
    for i in range(len(parts) - 1, 0, -1):
        module_name = '.'.join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        return obj
    raise ValueError(f'{ENV_SAFE_GLOBALS}: cannot import {name!r}; give the full dotted path of a class, e.g. '
                     'my_package.module.MyConfig.')


def env_safe_globals() -> List[Any]:
    """The types named in ``MMDFKD_SAFE_GLOBALS`` (comma-separated dotted paths).

    An explicit, per-type opt-in for checkpoints the user trusts. Types from
    modules that make unpickling run code (``builtins``, ``os``,
    ``subprocess``, ``functools``, ...) are refused.

    Returns:
        list: Objects for :func:`torch.serialization.add_safe_globals`.
    """
    value = os.environ.get(ENV_SAFE_GLOBALS, '').strip()
    entries = []
    for name in filter(None, (n.strip() for n in value.split(','))):
        if name.split('.')[0] in _NEVER_TRUSTED or any(name.startswith(m + '.') for m in _NEVER_TRUSTED):
            raise ValueError(f'{ENV_SAFE_GLOBALS} names {name!r}: globals from {name.rsplit(".", 1)[0]!r} let a '
                             'checkpoint run code while loading, so they cannot be allow-listed.')
        entries.append(_resolve_global(name))
    return entries


def register_env_safe_globals() -> None:
    """Allow-list the types named in ``MMDFKD_SAFE_GLOBALS`` (see :func:`env_safe_globals`)."""
    entries = env_safe_globals()
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if entries and add is not None:
        add(entries)
