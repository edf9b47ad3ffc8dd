"""Training-loop pieces: checkpoint compatibility, optimizer constructors, hooks, the DDP wrapper."""
from .optim import DataFreeOptimWrapperConstructor  # noqa: F401
from .hooks import SyntheticImageHook, TrainTimeHook  # noqa: F401
from .checkpoint_hook import AtomicCheckpointHook  # noqa: F401
from .ddp import DataFreeDDP  # noqa: F401
