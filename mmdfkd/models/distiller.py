"""DataFreeDistiller: synthesise images from a frozen teacher, distil a student on them."""
import os.path as osp
from collections import deque
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapperDict
from torch import Tensor, nn

from mmdfkd.engine.checkpoint import UntrustedCheckpointError, load_checkpoint_file
from mmdfkd.registry import MODELS
from mmdfkd.utils.state_dict import load_state_dict_checked, unwrap_state_dict

from .checkpoint_layouts import convert_state_dict
from .layers import teacher_stem
from .memory import SyntheticMemory
from .priors.base import SynthesisContext
from .recorders import ModuleRecorder
from .tasks import build_task, normalise_for

#: the ``model.type`` values of a data-free distillation config
DISTILLER_TYPES = ('DataFreeDistiller', 'mmdfkd.DataFreeDistiller')


def _resolve_teacher_stem(cfg, stem: str):
    """A copy of a student config with every ``stem='teacher'`` replaced by ``stem``."""
    if isinstance(cfg, dict):
        return {k: stem if k == 'stem' and v == 'teacher' else _resolve_teacher_stem(v, stem) for k, v in cfg.items()}
    return cfg


def _asks_teacher_stem(cfg) -> bool:
    """Whether a student config anywhere says ``stem='teacher'``."""
    return isinstance(cfg, dict) and any((k == 'stem' and v == 'teacher') or _asks_teacher_stem(v)
                                         for k, v in cfg.items())


def teacher_model_config(teacher: dict) -> ConfigDict:
    """The teacher's model dict from a distiller's ``teacher=`` entry (without its checkpoint).

    Args:
        teacher (dict): ``config=`` (a file whose ``model`` is the teacher, with
            optional ``cfg_options=``) or ``model=``, plus ``checkpoint=`` and
            ``checkpoint_layout=``, which this ignores.
    """
    cfg = dict(teacher)
    config = cfg.pop('config', None)
    model_cfg = cfg.pop('model', None)
    cfg_options = cfg.pop('cfg_options', None)
    unknown = sorted(set(cfg) - {'checkpoint', 'checkpoint_layout'})
    if unknown:
        raise KeyError(f'Unknown teacher keys {unknown}; use config=, model=, cfg_options=, checkpoint= '
                       'and checkpoint_layout=.')
    if cfg_options and config is None:
        raise ValueError('teacher.cfg_options applies to teacher.config; with teacher.model edit the dict itself.')
    if (config is None) == (model_cfg is None):
        raise ValueError('teacher needs exactly one of config= (a config file whose `model` is the teacher) '
                         'or model= (the model dict itself).')
    if config is not None:
        if not osp.isfile(config):
            raise FileNotFoundError(f'Teacher config {config!r} not found (paths are relative to the '
                                    'directory you run from, normally the repository root).')
        teacher_cfg = Config.fromfile(config)
        if cfg_options:
            teacher_cfg.merge_from_dict(dict(cfg_options))
        model_cfg = teacher_cfg.model
    return ConfigDict(model_cfg)


def resolved_student_config(model_cfg: dict) -> dict:
    """The student of a distiller's ``model`` config as the distiller builds it.

    A ``stem='teacher'`` becomes the teacher's stem kind
    (:func:`~mmdfkd.models.layers.teacher_stem`), read from a teacher built
    with random weights; a student that does not ask for it comes back as given.
    Export and the real-data baseline build the student through this.
    """
    student = dict(model_cfg['student'])
    if not _asks_teacher_stem(student):
        return student
    return _resolve_teacher_stem(student, teacher_stem(MODELS.build(teacher_model_config(model_cfg['teacher']))))


def _build_registered(cfg: dict, kind: str) -> nn.Module:
    """Build ``cfg`` from MODELS; an unknown type lists the registered names."""
    cfg = dict(cfg)
    type_name = cfg.get('type')
    if isinstance(type_name, str) and MODELS.get(type_name) is None:
        names = sorted(n for reg in (MODELS, MODELS.parent) for n in reg.module_dict
                       if kind.lower() in n.lower())
        raise KeyError(f'{kind} type {type_name!r} is not registered. Registered {kind.lower()}s: {names}. '
                       'A new one needs @MODELS.register_module() in a module that mmdfkd imports '
                       '(or custom_imports in the config).')
    return MODELS.build(cfg)


@MODELS.register_module()
class DataFreeDistiller(BaseModel):
    """Data-free knowledge distillation, for detection and classification.

    One :meth:`train_step`:

    1. **Synthesise** ``x = G(z[, layout])`` in pixel range, augment it
       differentiably, and update the generator with
       ``L_G = Σ priors(ctx)`` (TV, patch-similarity entropy, attention
       consistency, teacher task loss on a sampled layout, adversarial
       discrepancy, ...), ``generator_steps`` times. A pixel bank is re-drawn
       first, so ``generator_steps`` is the number of inversion steps.
    2. **Remember** the batch in a replay memory.
    3. **Distil**: ``student_steps`` times, draw a batch from the memory and
       update the student (and connectors) with ``L_S = Σ distill losses``
       between recorded teacher and student taps, plus, optionally, the
       student's own loss against the teacher's detections (pseudo labels).

    The teacher is frozen here and nowhere else (see :meth:`_freeze_teacher`);
    it is left out of checkpoints, which hold the student, the generator and
    the connectors.

    Args:
        teacher (dict): ``dict(config=PATH or model=dict(...), checkpoint=PATH)``.
            ``checkpoint`` is a ``tools/train.py`` checkpoint of the teacher, or
            a plain state dict of the network a single-prefix wrapper holds
            (a timm / official DeiT file for a ``TimmClassifier``, also as
            ``{'model': state_dict}``).
            ``config`` is a config file whose ``model`` is the teacher;
            ``cfg_options`` (with ``config`` only) is merged into that file
            as ``--cfg-options`` would be, e.g.
            ``cfg_options={'model.backbone.expose_attention': True}``. A
            teacher loaded from ``checkpoint`` is marked initialised, so the
            Runner's ``init_weights()`` keeps its weights.
            ``checkpoint_layout`` names the checkpoint's key layout:
            ``'auto'`` (default, recognised from the keys), ``'mmdfkd'``,
            ``'mmdet-vitdet'`` or ``'detectron2-vitdet'`` (see
            :mod:`mmdfkd.models.checkpoint_layouts`).
        student (dict): The student model config. A ``stem='teacher'`` in it
            (a ``TimmClassifier``'s or a ``ViT`` backbone's) becomes the
            teacher's stem kind: ``'conv'`` for a hybrid teacher (one that
            holds a :class:`~mmdfkd.models.layers.ConvStem`), else
            ``'patch'``; the student's own ``stem_channels`` and
            ``stem_norm`` still apply.
        generator (dict): A generator from ``mmdfkd.models.generators``.
        task (str): 'det' or 'cls'.
        priors (dict): name -> prior config; each adds ``loss_<name>`` to L_G.
        distill_losses (dict): name -> loss config with an extra ``tap`` key
            (and optional ``tap_T``): which recorded tensors it compares.
            Built-in taps: 'feats' and 'head' (det), 'logits' (cls).
        teacher_taps (dict): extra taps by module name, e.g.
            ``dict(attn=['backbone.blocks.5.attn.attn_drop'])``.
        student_taps (dict): the same for the student.
        connectors (dict): tap name -> connector config applied to the student
            tap before its losses.
        pseudo_label (dict, optional): detection only; ``dict(score_thr=0.3,
            loss_weight=1.0)`` trains the student with its own ``loss()`` on the
            teacher's detections, so any mmdet student works.
        layout_sampler (dict, optional): samples boxes and labels per image
            (detection); conditions the generator and the task prior. A
            sampler with ``setup(teacher, img_size)`` is set up with the
            teacher here, and one with ``observe(layout, detections)`` sees
            the teacher's detections on every generator and student batch
            (:class:`~mmdfkd.models.generators.TeacherLayoutSampler`).
        augment (dict, optional): differentiable augmentation.
        student_mix (dict, optional): applied to student batches only, after
            ``augment``, before the teacher labels them, e.g.
            ``dict(type='NaturalCutMix')`` (classification).
        generator_steps (int): generator updates per iteration.
        student_steps (int): student updates per iteration.
        refine_ratio (float): pixel bank only. The share of each new bank
            that starts from images (and layouts) drawn from the replay memory
            instead of fresh noise, so inversion continues across iterations
            and images accumulate optimisation steps. 0 starts every batch
            from noise (DeepInversion).
        memory_capacity (int): replay memory size in images; 0 trains the
            student on the current batch only.
        fresh_student_batches (bool): every student step after the first
            trains on a new batch the generator synthesises without
            gradients (with a new layout), instead of the memory or the
            current batch. For generators whose images are cheap to draw
            (conv, transformer, sprite bank); not the pixel bank, whose
            images are the batch being optimised.
        teacher_reuse (int): student steps per teacher forward. 1 (default)
            runs the teacher on every student batch. With ``r > 1`` the
            distiller keeps the batches the teacher labelled (the images,
            the teacher's taps and its decoded detections) in a pool of the
            last ``labelled_pool_size``; every r-th student step labels a new
            batch and the others train on a batch drawn from the pool, so the
            teacher's forward and decoding cost 1/r of a step. Each batch
            then trains the student about r times; the student's forward is
            always recomputed. Augmentation applies when a batch is labelled.
        labelled_pool_size (int): batches the pool holds with
            ``teacher_reuse > 1`` (oldest dropped first). Default: 8.
        generator_warmup_iters (int): first iterations that train only the
            generator (no student steps), so the student starts on images
            the teacher already recognises. Default: 0.
        adv_warmup_iters (int): iterations before priors flagged adversarial
            (``AdversarialPrior``) are switched on, so the generator first
            learns the teacher's task.
        max_bad_steps (int): consecutive non-finite generator outputs, or
            consecutive non-finite student losses, skipped (with a warning)
            before training stops.
        data_preprocessor (dict, optional): unused by training (synthetic
            images are normalised per model); validation uses the student's.
    """

    def __init__(self,
                 teacher: dict,
                 student: dict,
                 generator: dict,
                 task: str = 'det',
                 priors: Optional[dict] = None,
                 distill_losses: Optional[dict] = None,
                 teacher_taps: Optional[dict] = None,
                 student_taps: Optional[dict] = None,
                 connectors: Optional[dict] = None,
                 pseudo_label: Optional[dict] = None,
                 layout_sampler: Optional[dict] = None,
                 augment: Optional[dict] = None,
                 student_mix: Optional[dict] = None,
                 generator_steps: int = 1,
                 student_steps: int = 1,
                 memory_capacity: int = 0,
                 fresh_student_batches: bool = False,
                 teacher_reuse: int = 1,
                 labelled_pool_size: int = 8,
                 refine_ratio: float = 0.0,
                 generator_warmup_iters: int = 0,
                 adv_warmup_iters: int = 0,
                 max_bad_steps: int = 10,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.task = build_task(task)
        self.teacher = self._build_teacher(teacher)
        # ConfigDict: mmdet reads test_cfg by attribute (cfg.score_thr).
        self.student = MODELS.build(ConfigDict(_resolve_teacher_stem(student, teacher_stem(self.teacher))))
        self.generator = _build_registered(generator, 'Generator')
        self.priors = nn.ModuleDict({k: _build_registered(v, 'Prior') for k, v in (priors or {}).items()})
        self.distill_losses = nn.ModuleDict()
        self.loss_taps: Dict[str, tuple] = {}
        for name, cfg in (distill_losses or {}).items():
            cfg = dict(cfg)
            tap_S = cfg.pop('tap', self.task.builtin_taps[-1])
            tap_T = cfg.pop('tap_T', tap_S)
            self.distill_losses[name] = _build_registered(cfg, 'Loss')
            self.loss_taps[name] = (tap_S, tap_T)
        self.connectors = nn.ModuleDict({k: _build_registered(v, 'Connector') for k, v in (connectors or {}).items()})
        self.pseudo_label = None
        if pseudo_label is not None:
            if task != 'det':
                raise ValueError('pseudo_label applies to detection (task="det"); for classification use '
                                 'PseudoLabelCELoss in distill_losses.')
            self.pseudo_label = _build_registered(dict(type='PseudoLabelDetLoss', **pseudo_label), 'Loss')
        self.layout_sampler = MODELS.build(layout_sampler) if layout_sampler else None
        if hasattr(self.layout_sampler, 'setup'):  # a sampler that reads the teacher (TeacherLayoutSampler)
            self.layout_sampler.setup(self.teacher, self.generator.img_size,
                                      num_styles=getattr(self.generator, 'num_styles', 0))
            self.register_buffer('_layout_rates', self.layout_sampler.rates)
            self.register_buffer('_aspect_rates', self.layout_sampler.aspect_rates)
            self.register_buffer('_style_rates', self.layout_sampler.style_rates)
        self.augment = MODELS.build(augment) if augment else None
        self.student_mix = MODELS.build(student_mix) if student_mix else None
        self.teacher_recorder = ModuleRecorder(self.teacher, dict(teacher_taps or {}))
        self.student_recorder = ModuleRecorder(self.student, dict(student_taps or {}))
        self.generator_steps = generator_steps
        self.student_steps = student_steps
        self.memory = SyntheticMemory(memory_capacity)
        if fresh_student_batches and self.generator.holds_batch:
            raise ValueError(f'fresh_student_batches needs a generator that draws new images on each call; '
                             f'{type(self.generator).__name__} holds one optimised batch. Use memory_capacity '
                             'to replay its batches instead.')
        self.fresh_student_batches = fresh_student_batches
        if teacher_reuse < 1 or labelled_pool_size < 1:
            raise ValueError(f'teacher_reuse and labelled_pool_size must be >= 1, got {teacher_reuse} and '
                             f'{labelled_pool_size}; teacher_reuse=1 runs the teacher on every student batch.')
        self.teacher_reuse = teacher_reuse
        self._labelled: deque = deque(maxlen=labelled_pool_size)  # batches the teacher labelled (not saved)
        self.num_synthetic_images = 0  # drawn from the generator by this process (see TrainTimeHook)
        if not 0.0 <= refine_ratio <= 1.0:
            raise ValueError(f'refine_ratio must be in [0, 1], got {refine_ratio}.')
        self.refine_ratio = refine_ratio
        self.generator_warmup_iters = generator_warmup_iters
        self.adv_warmup_iters = adv_warmup_iters
        self.max_bad_steps = max_bad_steps
        self._bad_steps = {'generator': 0, 'student': 0}  # non-finite steps in a row, per phase
        self.register_buffer('_iter', torch.zeros((), dtype=torch.long))
        self.last_synthetic: Optional[Tensor] = None
        self._check_pairing()
        for prior in self.priors.values():
            prior.setup(self.teacher)
        self._freeze_teacher()
        # Checkpoints hold everything but the teacher, which has its own file.
        self._register_state_dict_hook(self._drop_teacher_from_state_dict)
        self.register_load_state_dict_post_hook(self._teacher_keys_are_not_missing)

    # ------------------------------------------------------------------ build
    def _build_teacher(self, cfg: dict) -> nn.Module:
        teacher = MODELS.build(teacher_model_config(cfg))
        checkpoint = cfg.get('checkpoint')
        if checkpoint is not None:
            self.load_teacher_weights(teacher, checkpoint, cfg.get('config'), cfg.get('checkpoint_layout', 'auto'))
            # The Runner calls model.init_weights() after building; BaseModule skips initialised children.
            teacher._is_init = True
        return teacher

    @staticmethod
    def load_teacher_weights(teacher: nn.Module, checkpoint: str, config: Optional[str] = None,
                             layout: str = 'auto') -> None:
        """Load a teacher checkpoint strictly (``weights_only``), with errors that say how to fix them.

        Args:
            teacher (nn.Module): the built teacher.
            checkpoint (str): a ``tools/train.py`` checkpoint of it, or a plain
                state dict of the network a single-prefix wrapper holds.
            config (str, optional): the teacher's config file, for the hint.
            layout (str): the checkpoint's key layout, see
                :func:`~mmdfkd.models.checkpoint_layouts.convert_state_dict`.
        """
        if not osp.isfile(checkpoint):
            hint = (f'Train it with: python tools/train.py {config}' if config else
                    'Train the teacher first, or point teacher.checkpoint at its .pth file.')
            raise FileNotFoundError(f'Teacher checkpoint {checkpoint!r} does not exist. {hint} '
                                    f'(or pass --cfg-options model.teacher.checkpoint=PATH).')
        try:
            ckpt = load_checkpoint_file(checkpoint)  # weights_only=True, never a fallback
        except UntrustedCheckpointError:
            raise  # its message says which type and how to allow a trusted file
        except Exception as err:  # torch raises several types for a bad file
            raise RuntimeError(f'Teacher checkpoint {checkpoint!r} could not be read ({type(err).__name__}: '
                               f'{str(err)[:300]}). Is it a complete .pth written by tools/train.py?') from err
        try:
            state = unwrap_state_dict(ckpt, f'Teacher checkpoint {checkpoint!r}')
        except TypeError as err:
            raise RuntimeError(str(err)) from err
        state, layout = convert_state_dict(state, teacher, layout)
        own = teacher.state_dict()
        # A plain state dict of the wrapped network (a timm model inside TimmClassifier, whose keys
        # all start with 'model.'): no key matches until the wrapper's single prefix is added.
        prefixes = {k.split('.', 1)[0] for k in own}
        if len(prefixes) == 1 and not any(k in own for k in state):
            prefix = prefixes.pop()
            state = {f'{prefix}.{k}': v for k, v in state.items()}
        load_state_dict_checked(teacher, state, f'Teacher checkpoint {checkpoint!r}',
                                f'Read as the {layout!r} checkpoint layout: check that teacher.config is the '
                                'config the checkpoint was trained with, or set teacher.checkpoint_layout.')

    def _freeze_teacher(self) -> None:
        """The single place where the teacher is frozen: eval mode, no gradients."""
        self.teacher.eval()
        for param in self.teacher.parameters():
            param.requires_grad_(False)

    def train(self, mode: bool = True) -> 'DataFreeDistiller':
        super().train(mode)
        self.teacher.eval()  # the Runner's model.train() must not wake the teacher up
        return self

    def _check_pairing(self) -> None:
        num_T, num_S = self.task.num_classes(self.teacher), self.task.num_classes(self.student)
        if num_T is not None and num_S is not None and num_T != num_S:
            raise ValueError(f'Teacher predicts {num_T} classes but the student {num_S}; data-free '
                             'distillation needs the same classes: set num_classes in the student config.')

    @staticmethod
    def _drop_teacher_from_state_dict(module, state_dict, prefix, local_metadata):
        for key in [k for k in state_dict if k.startswith(prefix + 'teacher.')]:
            del state_dict[key]
        return state_dict

    @staticmethod
    def _teacher_keys_are_not_missing(module, incompatible_keys) -> None:
        incompatible_keys.missing_keys[:] = [k for k in incompatible_keys.missing_keys
                                             if not k.startswith('teacher.')]

    # -------------------------------------------------------------- synthesis
    def run_model(self, model: nn.Module, recorder: ModuleRecorder, pixels: Tensor) -> dict:
        """Normalise ``pixels`` (N, 3, H, W) in [0, 255] for ``model`` (its own mean / std), run it, return its taps.

        Returns:
            dict: the task's built-in taps, the recorder's taps and ``'_inputs'`` (the normalised images).
        """
        inputs = normalise_for(model, pixels)
        with recorder:
            out = self.task.forward(model, inputs)
        out.update(recorder.taps)
        out['_inputs'] = inputs
        return out

    @staticmethod
    def _tap(out: dict, name: str, owner: str) -> object:
        if name not in out:
            available = sorted(k for k in out if not k.startswith('_'))
            raise KeyError(f'No {owner} tap named {name!r}; available: {available}. Add it under '
                           f'{owner}_taps=dict({name}=\'<module name>\') in the distiller config.')
        return out[name]

    @property
    def iteration(self) -> int:
        """Iterations this distiller has trained (saved with its checkpoints)."""
        return int(self._iter)

    def sample_layout(self, batch_size: int, device: torch.device) -> Optional[list]:
        """One layout per image from the layout sampler, or ``None`` without one.

        Returns:
            list[dict] | None: ``batch_size`` dicts with ``'bboxes'`` (k, 4)
            xyxy pixels and ``'labels'`` (k,), on ``device``.
        """
        if self.layout_sampler is None:
            return None
        layout = self.layout_sampler(batch_size, self.generator.img_size, self.task.num_classes(self.teacher))
        return [{k: v.to(device) for k, v in lay.items()} for lay in layout]

    def start_batch(self, batch_size: int, wrapper) -> Optional[list]:
        """Begin an iteration: sample its layout; re-draw a generator that holds its batch.

        With ``refine_ratio``, part of a re-drawn batch starts from images (and
        layouts) of the replay memory, so inversion continues across iterations.

        Args:
            batch_size (int): images per batch.
            wrapper: the generator's optimizer wrapper (its state is cleared
                when the batch is re-drawn).

        Returns:
            list[dict] | None: the layout of this iteration's batch.
        """
        layout = self.sample_layout(batch_size, next(self.student.parameters()).device)
        if not self.generator.holds_batch:
            return layout
        self.generator.reset()
        wrapper.optimizer.state.clear()
        num_refined = min(int(round(self.refine_ratio * batch_size)), len(self.memory))
        if num_refined == 0:
            return layout
        pixels, remembered = self.memory.sample(num_refined, next(self.generator.parameters()).device)
        self.generator.refine_from(pixels)
        if layout is None or remembered is None:
            return layout
        return list(remembered) + list(layout[num_refined:])

    def active_priors(self) -> Dict[str, nn.Module]:
        """The priors on at this iteration: adversarial ones only after ``adv_warmup_iters``."""
        adversarial_on = self.iteration >= self.adv_warmup_iters
        return {k: p for k, p in self.priors.items() if adversarial_on or not p.adversarial}

    def prior_context(self, pixels: Tensor, layout: Optional[list], with_student: bool) -> SynthesisContext:
        """Augment a synthetic batch, run the teacher (and the student) on it: what the priors read.

        Args:
            pixels (Tensor): (N, 3, H, W) generator output in [0, 255], with gradients.
            layout (list[dict] | None): its layout.
            with_student (bool): also record the student's taps (a prior ``needs_student``).
        """
        aug, aug_layout = self.augment(pixels, layout) if self.augment else (pixels, layout)
        out_T = self.run_model(self.teacher, self.teacher_recorder, aug)
        out_S = self.run_model(self.student, self.student_recorder, aug) if with_student else {}
        return SynthesisContext(images=out_T['_inputs'], pixels=pixels, taps_T=out_T, taps_S=out_S,
                                teacher=self.teacher, layout=aug_layout,
                                data_samples=self.task.data_samples(aug, aug_layout))

    def generator_step(self, batch_size: int, wrapper, layout: Optional[list]) -> Dict[str, Tensor]:
        """``generator_steps`` updates of the generator with ``L_G = Σ active priors``.

        Args:
            batch_size (int): images per batch.
            wrapper: the generator's optimizer wrapper (``optim_context``,
                ``update_params``, ``zero_grad``), an MMEngine ``OptimWrapper``
                or anything with the same three methods.
            layout (list[dict] | None): from :meth:`start_batch`.

        Returns:
            dict: ``'G.loss_<prior>'`` -> detached weighted loss.
        """
        priors = self.active_priors()
        need_student = any(p.needs_student for p in priors.values())
        log: Dict[str, Tensor] = {}
        for _ in range(self.generator_steps):
            with wrapper.optim_context(self.generator):
                pixels = self.generator(batch_size, layout)
                if not torch.isfinite(pixels).all():
                    self._skip_bad_step('generator', 'NaN/Inf images')
                    wrapper.zero_grad()
                    continue
                ctx = self.prior_context(pixels, layout, need_student)
                losses = {f'loss_{name}': prior(ctx) for name, prior in priors.items()}
                loss = sum(losses.values())
            self._bad_steps['generator'] = 0
            self._observe_layout(ctx.layout, ctx.taps_T)
            wrapper.update_params(loss)
            log.update({f'G.{k}': v.detach() for k, v in losses.items()})
        if need_student:
            self.student.zero_grad(set_to_none=True)  # the adversarial term's student gradients
        return log

    def synthesise(self, batch_size: int, layout: Optional[list], remember: bool = True) -> Tensor:
        """Draw a batch from the generator without gradients, and count it.

        Args:
            batch_size (int): images to draw.
            layout (list[dict] | None): their layout.
            remember (bool): push a finite batch into the replay memory and
                keep it as ``last_synthetic`` (for the image-grid hook).

        Returns:
            Tensor: (N, 3, H, W) in [0, 255]; may hold NaN/Inf if the
            generator diverged (then it is neither remembered nor kept).
        """
        with torch.no_grad():
            pixels = self.generator(batch_size, layout).detach()
        self.num_synthetic_images += batch_size
        if remember and torch.isfinite(pixels).all():
            self.last_synthetic = pixels
            self.memory.push(pixels, layout)
        return pixels

    def _skip_bad_step(self, phase: str, what: str) -> None:
        self._bad_steps[phase] += 1
        count = self._bad_steps[phase]
        print_log(f'The {phase} step produced {what}; skipping it ({count} in a row, stopping at '
                  f'{self.max_bad_steps}).', logger='current', level=30)
        if count >= self.max_bad_steps:
            fix = ('Lower the generator learning rate (optim_wrapper.generator.optimizer.lr), add gradient '
                   'clipping (optim_wrapper.generator.clip_grad=dict(max_norm=10)), or lower the prior weights.'
                   if phase == 'generator' else
                   'Lower the student learning rate (optim_wrapper.student.optimizer.lr), add gradient clipping '
                   '(optim_wrapper.student.clip_grad=dict(max_norm=10)), or lower the distillation loss weights.')
            raise FloatingPointError(f'The {phase} step produced {what} {count} steps in a row. {fix}')

    # --------------------------------------------------------------- distill
    def student_batch(self, step: int, pixels: Tensor, layout: Optional[list]) -> Tuple[Tensor, Optional[list]]:
        """The batch student step ``step`` trains on, augmented.

        A fresh generator batch (``fresh_student_batches``, steps after the
        first), else a replay-memory sample, else this iteration's batch.
        """
        if self.fresh_student_batches and step > 0:
            batch_layout = self.sample_layout(pixels.shape[0], pixels.device)
            batch = self.synthesise(pixels.shape[0], batch_layout, remember=False).nan_to_num()
        elif len(self.memory):
            batch, batch_layout = self.memory.sample(pixels.shape[0], pixels.device)
        else:
            batch, batch_layout = pixels, layout
        if self.augment:
            batch, batch_layout = self.augment(batch, batch_layout)
        if self.student_mix:
            batch, batch_layout = self.student_mix(batch, batch_layout)
        return batch, batch_layout

    def label_batch(self, batch: Tensor, layout: Optional[list] = None) -> dict:
        """Run the teacher on a student batch: what the student losses compare against.

        The teacher's detections decoded for the pseudo labels also go to the
        layout sampler's ``observe`` (when it has one) with ``layout``, as
        they do in every generator step.

        Args:
            batch (Tensor): (N, 3, H, W) synthetic pixels in [0, 255].
            layout (list[dict], optional): its layout.

        Returns:
            dict: ``'batch'``, ``'layout'``, ``'out_T'`` (the teacher's taps,
            no gradients) and ``'results'`` (its decoded detections, or
            ``None`` without pseudo labels or an observing sampler).
        """
        with torch.no_grad():
            out_T = self.run_model(self.teacher, self.teacher_recorder, batch)
            results = self._observe_layout(layout, out_T)
            if results is None and self.pseudo_label is not None:
                results = self.task.predict(self.teacher, out_T, out_T['_inputs'])
        return dict(batch=batch, layout=layout, out_T=out_T, results=results)

    def reused_batch(self, step: int) -> Optional[dict]:
        """A labelled batch from the pool for student step ``step``, or ``None`` when this step labels a new one.

        With ``teacher_reuse=r``, every r-th student step of the run labels
        a new batch; the others draw one of the pool's batches at random.
        """
        count = self.iteration * self.student_steps + step
        if self.teacher_reuse > 1 and self._labelled and count % self.teacher_reuse:
            return self._labelled[int(torch.randint(len(self._labelled), ()))]
        return None

    def student_losses(self, batch: Tensor, layout: Optional[list] = None,
                       labelled: Optional[dict] = None) -> Dict[str, Tensor]:
        """``L_S`` terms on one batch: distillation losses between taps, plus pseudo labels.

        Args:
            batch (Tensor): (N, 3, H, W) synthetic pixels in [0, 255].
            layout (list[dict], optional): its layout.
            labelled (dict, optional): :meth:`label_batch` of ``batch``, when
                the teacher has already run on it; else it runs now.

        Returns:
            dict: ``'loss_<name>'`` -> scalar with gradients to the student
            and connectors.
        """
        if labelled is None:
            labelled = self.label_batch(batch, layout)
        out_T, results = labelled['out_T'], labelled['results']
        out_S = self.run_model(self.student, self.student_recorder, batch)
        losses = {}
        for name, loss_fn in self.distill_losses.items():
            tap_S, tap_T = self.loss_taps[name]
            preds_S = self._tap(out_S, tap_S, 'student')
            preds_T = self._tap(out_T, tap_T, 'teacher')
            if tap_S in self.connectors:
                preds_S = self.connectors[tap_S](preds_S, preds_T)
            losses[f'loss_{name}'] = loss_fn(preds_S, preds_T)
        if self.pseudo_label is not None:
            targets = self.pseudo_label.make_targets(results)
            losses['loss_pseudo'] = self.pseudo_label(self.task.loss(self.student, out_S, targets))
        return losses

    def _observe_layout(self, layout: Optional[list], out_T: dict) -> Optional[list]:
        """Show the teacher's detections on a batch to a layout sampler that ``observe``s them.

        Returns:
            list | None: the decoded detections (for the pseudo labels), or
            ``None`` without such a sampler or layout.
        """
        observe = getattr(self.layout_sampler, 'observe', None)
        if observe is None or layout is None:
            return None
        with torch.no_grad():
            results = self.task.predict(self.teacher, out_T, out_T['_inputs'])
        observe(layout, results)
        return results

    def student_step(self, pixels: Tensor, layout: Optional[list], wrapper) -> Dict[str, Tensor]:
        """``student_steps`` updates of the student (and connectors); none during the generator warm-up.

        A non-finite loss skips its update with a warning; ``max_bad_steps``
        in a row stop training.

        Args:
            pixels (Tensor): (N, 3, H, W) this iteration's batch.
            layout (list[dict] | None): its layout.
            wrapper: the student's optimizer wrapper (see :meth:`generator_step`).

        Returns:
            dict: ``'S.loss_<name>'`` -> detached loss.
        """
        log: Dict[str, Tensor] = {}
        if self.iteration < self.generator_warmup_iters:
            return log
        for step in range(self.student_steps):
            labelled = self.reused_batch(step)
            batch, batch_layout = (labelled['batch'], labelled['layout']) if labelled else \
                self.student_batch(step, pixels, layout)
            with wrapper.optim_context(self.student):  # the teacher's forward too (bf16 under --amp)
                if labelled is None:
                    labelled = self.label_batch(batch, batch_layout)
                    if self.teacher_reuse > 1:
                        self._labelled.append(labelled)
                losses = self.student_losses(batch, batch_layout, labelled)
                loss = sum(losses.values())
            if not torch.isfinite(loss):
                self._skip_bad_step('student', f'a non-finite loss ({float(loss.detach())})')
                wrapper.zero_grad()
                continue
            self._bad_steps['student'] = 0
            wrapper.update_params(loss)
            log.update({f'S.{k}': v.detach() for k, v in losses.items()})
        return log

    def run_iteration(self, batch_size: int, wrapper_G, wrapper_S) -> Dict[str, Tensor]:
        """One synthesis + distillation iteration with the given optimizer wrappers.

        :meth:`train_step` calls it with MMEngine's wrappers; the plain-PyTorch
        loop of :mod:`mmdfkd.analysis.overhead` with ``torch.optim`` ones, so
        both run the same code.
        """
        layout = self.start_batch(batch_size, wrapper_G)
        log = self.generator_step(batch_size, wrapper_G, layout)
        pixels = self.synthesise(batch_size, layout)
        log.update(self.student_step(pixels.nan_to_num(), layout, wrapper_S))
        self._iter += 1
        return log

    # ------------------------------------------------------------ MMEngine API
    def train_step(self, data: Union[dict, list], optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        """One synthesis + distillation iteration (:meth:`run_iteration`).

        Args:
            data (dict): A batch of :class:`~mmdfkd.datasets.LatentDataset`,
                ``dict(index=[...])``; only its length is used.
            optim_wrapper (OptimWrapperDict): with keys 'generator' and 'student'.
        """
        if not isinstance(optim_wrapper, OptimWrapperDict) or not {'generator', 'student'} <= set(optim_wrapper.keys()):
            raise KeyError("DataFreeDistiller needs optim_wrapper=dict(constructor='DataFreeOptimWrapperConstructor', "
                           "generator=dict(...), student=dict(...)) in the config.")
        batch_size = len(data['index']) if isinstance(data, dict) else len(data)
        return self.run_iteration(batch_size, optim_wrapper['generator'], optim_wrapper['student'])

    def val_step(self, data: Union[dict, list]) -> list:
        """Evaluate the student on real validation data."""
        return self.student.val_step(data)

    def test_step(self, data: Union[dict, list]) -> list:
        return self.student.test_step(data)

    def forward(self, inputs: Tensor, data_samples: Optional[list] = None, mode: str = 'tensor'):
        """Forward of the student (the model being trained)."""
        return self.student(inputs, data_samples, mode=mode)
