"""mmdfkd: data-free knowledge distillation of Vision Transformers for MMDetection."""
from .engine.checkpoint import register_mmengine_safe_globals
from .version import __version__

# Our Runner checkpoints must load under torch >= 2.6 (weights_only=True).
register_mmengine_safe_globals()

__all__ = ['__version__']
