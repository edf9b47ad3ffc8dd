"""Training-loop pieces: checkpoint compatibility, optimizer constructors, hooks."""
from .optim import DataFreeOptimWrapperConstructor  # noqa: F401
from .hooks import SyntheticImageHook  # noqa: F401
