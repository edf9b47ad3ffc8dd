"""Forward-hook taps on named submodules (MMRazor-style recorders)."""
import difflib
from typing import Any, Dict, List, Sequence, Union

import torch.nn as nn
from torch.utils.hooks import RemovableHandle

_LIST_NAMES_HINT = 'list the names with [n for n, _ in model.named_modules()]'


class ModuleRecorder:
    """Records the outputs of named submodules of a model during a forward.

    Each tap maps a name of our choosing to a dotted submodule name as in
    ``model.named_modules()`` (``''`` is the model itself), or to a list of
    such names, in which case the tap holds the outputs in that order. Hooks
    exist only inside ``with recorder:``: they are registered on entry and
    removed on exit, even when the forward raises. Entering clears what an
    earlier ``with`` recorded, so every block records a fresh forward; the
    outputs stay readable after the block.

    Outputs are stored as the module returned them (tensors, tuples, ...):
    never detached or copied, so gradients flow through a recorded student
    tap, and a teacher run under ``torch.no_grad()`` yields tensors without
    graph.

    A module called several times in one recorded forward (shared heads over
    FPN levels, a block reused in a loop) keeps its *last* output, or, with
    ``keep_all=True``, the list of all its outputs in call order.

    Example:
        >>> recorder = ModuleRecorder(model, dict(
        ...     neck='neck', attn='backbone.blocks.5.attn.attn_drop',
        ...     blocks=['backbone.blocks.2', 'backbone.blocks.5']))
        >>> with recorder:
        ...     model.extract_feat(images)
        >>> recorder.taps['neck']      # tuple of (N, C, H, W) maps
        >>> recorder.taps['blocks']    # [output of blocks.2, of blocks.5]

    Args:
        model (nn.Module): The model whose submodules are tapped.
        sources (dict[str, str | list[str]]): Tap name to a submodule name,
            or to a list of submodule names.
        keep_all (bool): Keep every output of a module called several times
            in one forward (a list per module) instead of the last one.
            Default: False.

    Raises:
        KeyError: A source names no submodule of ``model``; the message lists
            close matches.
    """

    def __init__(self,
                 model: nn.Module,
                 sources: Dict[str, Union[str, Sequence[str]]],
                 keep_all: bool = False) -> None:
        modules = dict(model.named_modules())
        self.sources: Dict[str, Union[str, List[str]]] = {}
        for tap, source in sources.items():
            names = [source] if isinstance(source, str) else list(source)
            for name in names:
                if name not in modules:
                    raise KeyError(_unknown_module_message(tap, name, list(modules)))
            self.sources[tap] = source if isinstance(source, str) else names
        self.keep_all = keep_all
        self._modules = {name: modules[name] for name in self._module_names()}
        self._outputs: Dict[str, Any] = {}
        self._handles: List[RemovableHandle] = []

    def _module_names(self) -> List[str]:
        """Every tapped submodule name once, in first-seen order."""
        names: Dict[str, None] = {}
        for source in self.sources.values():
            for name in [source] if isinstance(source, str) else source:
                names[name] = None
        return list(names)

    def __enter__(self) -> 'ModuleRecorder':
        if self._handles:
            raise RuntimeError('ModuleRecorder is already recording: nested `with recorder:` blocks on the '
                               'same recorder are not supported; use one recorder per model.')
        self.reset()
        for name, module in self._modules.items():
            self._handles.append(module.register_forward_hook(self._make_hook(name)))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _make_hook(self, name: str):

        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if self.keep_all:
                self._outputs.setdefault(name, []).append(output)
            else:
                self._outputs[name] = output

        return hook

    def reset(self) -> None:
        """Forget the recorded outputs."""
        self._outputs = {}

    @property
    def taps(self) -> Dict[str, Any]:
        """The recorded outputs, tap name to output (or list of outputs).

        Raises:
            RuntimeError: A tapped module did not run in the recorded forward.
        """
        missing = [name for name in self._modules if name not in self._outputs]
        if missing:
            raise RuntimeError(
                f'ModuleRecorder: modules {missing} did not run inside the last `with recorder:` block. '
                'Run the forward inside the block, and check that the forward calls these modules (timm '
                'attention uses a fused kernel that skips `attn_drop` unless the model exposes attention, '
                'e.g. ViT(expose_attention=True)).')
        return {
            tap: self._outputs[source] if isinstance(source, str) else [self._outputs[n] for n in source]
            for tap, source in self.sources.items()
        }


def _unknown_module_message(tap: str, name: str, known: List[str]) -> str:
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    hint = f'close matches: {close}' if close else 'no close match'
    return f'ModuleRecorder tap {tap!r}: the model has no submodule {name!r} ({hint}); {_LIST_NAMES_HINT}.'
