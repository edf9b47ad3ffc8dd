"""What a model or a run costs: parameters, FLOPs, latency, framework overhead, and the logs' records."""
from .complexity import build_teacher_student, complexity, input_size_of, tensor_forward
from .latency import compare_latency, latency_report, num_threads
from .logs import images_per_second, metric_at, read_scalars, time_to_target, timed_curve
from .overhead import PlainDistillStep, PlainOptimizer, benchmark_overhead, overhead_config
from .runs import teacher_score, with_train_timer

__all__ = [
    'build_teacher_student', 'complexity', 'input_size_of', 'tensor_forward', 'compare_latency', 'latency_report',
    'num_threads', 'images_per_second', 'metric_at', 'read_scalars', 'time_to_target', 'timed_curve',
    'PlainDistillStep', 'PlainOptimizer', 'benchmark_overhead', 'overhead_config', 'teacher_score', 'with_train_timer'
]
