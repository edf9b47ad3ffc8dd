"""Training-loop pieces: checkpoint compatibility, optimizer constructors, hooks, the DDP wrapper."""
from .amp import CPUBF16OptimWrapper  # noqa: F401
from .checkpoint_hook import AtomicCheckpointHook, DiskFullError  # noqa: F401
from .ddp import DataFreeDDP  # noqa: F401
from .hooks import DiversityHook, MemoryUsageHook, SyntheticImageHook, TrainTimeHook  # noqa: F401
from .loops import SubsetValLoop  # noqa: F401
from .optim import DataFreeOptimWrapperConstructor  # noqa: F401
from .preemption import PreemptionHook, TrainingPreempted  # noqa: F401
from .teacher_check import TeacherCheckHook  # noqa: F401
