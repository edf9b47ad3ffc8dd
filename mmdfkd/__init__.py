"""mmdfkd: data-free knowledge distillation of Vision Transformers for MMDetection."""
from .engine.checkpoint import register_checkpoint_loader, register_env_safe_globals, register_mmengine_safe_globals
from .version import __version__

# Our Runner checkpoints must load under torch >= 2.6 (weights_only=True), MMEngine's
# loader must never fall back to weights_only=False, and MMDFKD_SAFE_GLOBALS may name
# extra types the user trusts (see mmdfkd/engine/checkpoint.py).
register_mmengine_safe_globals()
register_checkpoint_loader()
register_env_safe_globals()

__all__ = ['__version__']
