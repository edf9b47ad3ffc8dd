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
"""
from typing import Callable, List, Tuple, Union

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
