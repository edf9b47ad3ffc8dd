"""Registries of mmdfkd: one child of each MMDetection registry.

Every registry here is a child of mmdet's (which in turn is a child of
MMEngine's root), so an mmdfkd config with ``default_scope='mmdfkd'`` resolves
our own types first and falls back to mmdet and MMEngine types with no prefix.
Modules register lazily through ``locations``: tools never need
``register_all_modules``.
"""
from mmdet import registry as mmdet_registry
from mmengine.registry import Registry


class ChildRegistry(Registry):
    """A registry that, before a look-up, imports its ancestors' locations too.

    MMEngine's :meth:`Registry.get` walks up to the parent's table but only
    imports the child's own ``locations``; in a fresh process mmdet's modules
    would then be missing. Importing the ancestors' locations first makes
    ``MODELS.build(dict(type='RetinaNet', ...))`` work from mmdfkd alone.
    """

    def import_from_location(self) -> None:
        parent = self.parent
        while parent is not None:
            parent.import_from_location()
            parent = parent.parent
        super().import_from_location()


def _child(name: str, parent: Registry, locations: list) -> ChildRegistry:
    return ChildRegistry(name, parent=parent, scope='mmdfkd', locations=locations)


RUNNERS = _child('runner', mmdet_registry.RUNNERS, [])
RUNNER_CONSTRUCTORS = _child('runner constructor', mmdet_registry.RUNNER_CONSTRUCTORS, [])
LOOPS = _child('loop', mmdet_registry.LOOPS, ['mmdfkd.engine'])
HOOKS = _child('hook', mmdet_registry.HOOKS, ['mmdfkd.engine'])
LOG_PROCESSORS = _child('log_processor', mmdet_registry.LOG_PROCESSORS, [])

DATASETS = _child('dataset', mmdet_registry.DATASETS, ['mmdfkd.datasets'])
DATA_SAMPLERS = _child('data sampler', mmdet_registry.DATA_SAMPLERS, [])
TRANSFORMS = _child('transform', mmdet_registry.TRANSFORMS, ['mmdfkd.datasets'])

MODELS = _child('model', mmdet_registry.MODELS, ['mmdfkd.models'])
MODEL_WRAPPERS = _child('model_wrapper', mmdet_registry.MODEL_WRAPPERS, ['mmdfkd.engine'])
WEIGHT_INITIALIZERS = _child('weight initializer', mmdet_registry.WEIGHT_INITIALIZERS, [])
TASK_UTILS = _child('task util', mmdet_registry.TASK_UTILS, [])

OPTIMIZERS = _child('optimizer', mmdet_registry.OPTIMIZERS, [])
OPTIM_WRAPPERS = _child('optim_wrapper', mmdet_registry.OPTIM_WRAPPERS, ['mmdfkd.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer constructor', mmdet_registry.OPTIM_WRAPPER_CONSTRUCTORS,
                                    ['mmdfkd.engine'])
PARAM_SCHEDULERS = _child('parameter scheduler', mmdet_registry.PARAM_SCHEDULERS, [])

METRICS = _child('metric', mmdet_registry.METRICS, ['mmdfkd.evaluation'])
EVALUATOR = _child('evaluator', mmdet_registry.EVALUATOR, [])

VISUALIZERS = _child('visualizer', mmdet_registry.VISUALIZERS, [])
VISBACKENDS = _child('vis_backend', mmdet_registry.VISBACKENDS, [])
