"""Reading weights out of checkpoint files and loading them with one clear report.

Every place that loads weights (the distiller's teacher, the exported student,
``TimmClassifier``, the ViT backbone) goes through these two steps:

1. :func:`unwrap_state_dict`: a loaded checkpoint object -> ``{key: tensor}``,
   whatever wrapper it came in (``state_dict`` / ``model`` entry, a DDP
   ``module.`` prefix);
2. :func:`load_state_dict_checked`: load it and, on any mismatch, raise one
   error listing the missing, unexpected and wrongly shaped keys.
"""
from typing import Dict, List, Sequence, Tuple

from torch import Tensor, nn

StateDict = Dict[str, Tensor]


def unwrap_state_dict(ckpt: object, source: str, entries: Sequence[str] = ('state_dict', 'model')) -> StateDict:
    """The ``{key: tensor}`` weights inside a loaded checkpoint.

    Args:
        ckpt (object): what ``torch.load`` returned.
        source (str): the file name, for the error message.
        entries (Sequence[str]): keys that may wrap the weights, tried in
            order: ``'state_dict'`` (MMEngine), ``'model'`` (timm / DeiT /
            detectron2 training scripts).

    Returns:
        dict: the tensors, with one leading ``module.`` (DDP) removed.

    Raises:
        TypeError: ``ckpt`` holds no dict of weights.
    """
    state = ckpt
    for key in entries:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise TypeError(f'{source} holds a {type(state).__name__}, not a state dict; save the model weights '
                        'with torch.save(model.state_dict(), path).')
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()
            if isinstance(v, Tensor)}


def strip_common_prefix(state: StateDict, prefix: str) -> StateDict:
    """Remove ``prefix`` from every key when all keys carry it; else return ``state`` unchanged."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def state_dict_mismatches(own: StateDict, state: StateDict) -> Tuple[List[str], List[str], List[str]]:
    """Missing keys, unexpected keys, and ``'key (ckpt shape) vs (model shape)'`` for shape mismatches."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f'{k} {tuple(v.shape)} vs {tuple(own[k].shape)}' for k, v in state.items()
              if k in own and v.shape != own[k].shape]
    return missing, unexpected, shapes


def _head(keys: List[str], limit: int = 8) -> str:
    return '[' + ', '.join(keys[:limit]) + (f' ... (+{len(keys) - limit})' if len(keys) > limit else '') + ']'


def load_state_dict_checked(model: nn.Module, state: StateDict, what: str, hint: str) -> None:
    """``model.load_state_dict(state)``, every key accounted for, or one error listing all mismatches.

    Keys that ``model.state_dict()`` leaves out (a distiller's teacher) are
    neither missing nor loaded.

    Args:
        model (nn.Module): the model to load into.
        state (dict): the weights, e.g. from :func:`unwrap_state_dict`.
        what (str): the subject of the message, e.g. ``"Teacher checkpoint 'x.pth'"``.
        hint (str): how to fix a mismatch, appended to the message.

    Raises:
        RuntimeError: ``'{what}: the weights do not match the model'``, the missing
            keys, unexpected keys and shape mismatches, then ``hint``.
    """
    own = model.state_dict()
    missing, unexpected, shapes = state_dict_mismatches(own, state)
    if missing or unexpected or shapes:
        raise RuntimeError(f'{what}: the weights do not match the model. Missing keys: {_head(missing)}. '
                           f'Unexpected keys: {_head(unexpected)}. '
                           f'Shape mismatches (checkpoint vs model): {_head(shapes)}. {hint}')
    model.load_state_dict(state, strict=False)
