"""Data-free distillation of classifiers: attention taps, the student objective, configs, a short run.

Complements tests/test_models/test_distiller.py (a plain cls ``train_step`` per generator) and
tests/test_models/test_losses.py (each loss on hand-made tensors): here the losses are checked
as the distiller wires them (which tap feeds which loss), and the classification configs are
built, switched between generators and run.
"""
import argparse
import copy
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from mmdfkd.engine.optim import DataFreeOptimWrapperConstructor
from mmdfkd.models.distiller import resolved_student_config
from mmdfkd.models.recorders import ModuleRecorder
from mmdfkd.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# One per scale, each with the seed paper's transformer generator; generator_config() names the others.
DIGITS = 'dfkd_deit-nano_deit-pico_digits-cls.py'
CLS_CONFIGS = [DIGITS, 'dfkd_deit-s_deit-ti_cifar10.py', 'dfkd_deit-b_deit-ti_imagenet.py']


@pytest.fixture(autouse=True)
def scope_and_threads(monkeypatch):
    init_default_scope('mmdfkd')
    monkeypatch.chdir(REPO_ROOT)  # configs name the teacher config relative to the repository root
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches; a second thread only fights the other jobs on the machine
    yield
    torch.set_num_threads(threads)


def tiny_vit(embed_dim: int = 16, depth: int = 2, num_heads: int = 2, **kwargs) -> dict:
    """A timm ViT classifier for 32x32 inputs (16 patches + class token)."""
    return dict(type='TimmClassifier', model_name='vit_tiny_patch16_224',
                model_kwargs=dict(img_size=32, patch_size=8, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                                  num_classes=10), **kwargs)


def blocks(indices) -> list:
    return [f'model.blocks.{i}.attn.attn_drop' for i in indices]


def build_with_optim(cfg: dict, student_lr: float = 1e-3):
    model = MODELS.build(cfg)
    optim = DataFreeOptimWrapperConstructor(dict(
        generator=dict(optimizer=dict(type='Adam', lr=1e-3)),
        student=dict(optimizer=dict(type='AdamW', lr=student_lr))))(model)
    return model, optim


def snapshot(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items() if v.is_floating_point())


def test_expose_attention_records_probabilities_with_unchanged_outputs():
    torch.manual_seed(0)
    fused = MODELS.build(tiny_vit()).eval()
    explicit = MODELS.build(tiny_vit(expose_attention=True)).eval()
    explicit.load_state_dict(fused.state_dict())
    x = torch.randn(2, 3, 32, 32)
    recorder = ModuleRecorder(explicit, dict(attn=blocks(range(2))))
    with recorder:
        logits = explicit(x)
    torch.testing.assert_close(logits, fused(x), atol=1e-5, rtol=1e-5)
    attn = recorder.taps['attn']
    assert [tuple(a.shape) for a in attn] == [(2, 2, 17, 17)] * 2
    torch.testing.assert_close(attn[1].sum(-1), torch.ones(2, 2, 17))


# ------------------------------------------------------- the seed paper's objective, wired
def seed_paper_distiller(tmp_path, generator: dict, **overrides) -> dict:
    """Teacher 3 blocks / 4 heads, student 2 blocks / 2 heads; patch KD pairs T(1, 2) with S(0, 1)."""
    teacher = MODELS.build(tiny_vit(embed_dim=32, depth=3, num_heads=4))
    torch.save({'state_dict': teacher.state_dict()}, tmp_path / 'teacher.pth')
    cfg = dict(
        type='DataFreeDistiller', task='cls',
        teacher=dict(model=tiny_vit(embed_dim=32, depth=3, num_heads=4, expose_attention=True),
                     checkpoint=str(tmp_path / 'teacher.pth')),
        student=tiny_vit(expose_attention=True),
        generator=dict(generator, img_size=32),
        teacher_taps=dict(attn=blocks(range(3)), patch_attn=blocks((1, 2))),
        student_taps=dict(patch_attn=blocks((0, 1))),
        priors=dict(adv=dict(type='AdversarialPrior', tap='logits', mode='kl', loss_weight=1.0),
                    attn=dict(type='AttentionConsistencyPrior', tap='attn', loss_weight=0.5),
                    conf=dict(type='ConfidencePrior', balance_weight=2.0, loss_weight=0.5)),
        distill_losses=dict(kd=dict(type='KLDivLoss', tap='logits', tau=4.0, loss_weight=0.7),
                            ce=dict(type='PseudoLabelCELoss', tap='logits', loss_weight=0.3),
                            patch=dict(type='AttentionKDLoss', tap='patch_attn', loss_weight=2.0)))
    cfg.update(overrides)
    return cfg


def test_train_step_with_patch_attention_updates_student_and_generator_not_teacher(tmp_path):
    torch.manual_seed(0)
    model, optim = build_with_optim(seed_paper_distiller(
        tmp_path, dict(type='TransformerGenerator', latent_dim=16, embed_dim=32, depth=1, num_heads=2),
        augment=dict(type='DifferentiableAugment', jitter=2), memory_capacity=8, student_steps=2))
    model.train()
    teacher0, student0, generator0 = snapshot(model.teacher), snapshot(model.student), snapshot(model.generator)
    log = model.train_step(dict(index=[0, 1, 2, 3]), optim)
    assert set(log) == {'G.loss_adv', 'G.loss_attn', 'G.loss_conf', 'S.loss_kd', 'S.loss_ce', 'S.loss_patch'}
    assert all(torch.isfinite(v) for v in log.values())
    assert log['G.loss_adv'] <= 0 and log['S.loss_patch'] > 0
    assert changed(student0, model.student) and changed(generator0, model.generator)
    assert not changed(teacher0, model.teacher)
    assert all(p.grad is None for p in model.teacher.parameters())


def hand_attention(vit, x: torch.Tensor) -> list:
    """Per-block softmax(q k^T / sqrt(d)) of a timm ViT, computed from its weights: (N, heads, T, T)."""
    tokens = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))
    maps = []
    for blk in vit.blocks:
        n, t, c = tokens.shape
        heads = blk.attn.num_heads
        q, k, _ = blk.attn.qkv(blk.norm1(tokens)).reshape(n, t, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        maps.append(((q @ k.transpose(-2, -1)) / (c // heads)**0.5).softmax(-1))
        tokens = blk(tokens)
    return maps


def test_student_losses_match_a_hand_computation(tmp_path):
    """L_S = 0.7 τ² KL(T/τ ‖ S/τ) + 0.3 CE(S, argmax T) + 2.0 KL(head-avg attention rows), T(1,2) ↔ S(0,1)."""
    torch.manual_seed(0)
    model, optim = build_with_optim(seed_paper_distiller(tmp_path, dict(type='ConvGenerator', latent_dim=16)),
                                    student_lr=0.0)
    model.train()
    student0 = copy.deepcopy(model.student).eval()
    log = model.train_step(dict(index=[0, 1, 2]), optim)
    pixels = model.last_synthetic  # no memory, no augmentation: the student's batch
    x = (pixels - 127.5) / 127.5
    with torch.no_grad():
        logits_T, logits_S = model.teacher.model(x), student0.model(x)
        attn_T, attn_S = hand_attention(model.teacher.model, x), hand_attention(student0.model, x)
    tau = 4.0
    p_T, log_p_S = (logits_T / tau).softmax(-1), (logits_S / tau).log_softmax(-1)
    kd = tau**2 * (p_T * (p_T.log() - log_p_S)).sum(-1).mean()
    ce = -logits_S.log_softmax(-1).gather(1, logits_T.argmax(-1, keepdim=True)).mean()
    patch = 0
    for a_T, a_S in zip(attn_T[1:], attn_S[:2]):
        a_T, a_S = a_T.mean(1), a_S.mean(1)
        patch += (a_T * (a_T.log() - a_S.log())).sum(-1).mean() / 2
    assert log['S.loss_kd'].item() == pytest.approx(0.7 * kd.item(), rel=1e-4)
    assert log['S.loss_ce'].item() == pytest.approx(0.3 * ce.item(), rel=1e-4)
    assert log['S.loss_patch'].item() == pytest.approx(2.0 * patch.item(), rel=1e-4)


def test_teacher_checkpoint_may_be_a_plain_timm_state_dict(tmp_path):
    torch.manual_seed(0)
    cfg = seed_paper_distiller(tmp_path, dict(type='ConvGenerator', latent_dim=16))
    timm_net = MODELS.build(tiny_vit(embed_dim=32, depth=3, num_heads=4)).model
    torch.save({'model': timm_net.state_dict()}, tmp_path / 'deit_official.pth')  # DeiT's own format
    cfg['teacher']['checkpoint'] = str(tmp_path / 'deit_official.pth')
    model = MODELS.build(cfg)
    torch.testing.assert_close(model.teacher.model.state_dict(), timm_net.state_dict())


# ------------------------------------------------------------------------------ configs
def load(name: str) -> Config:
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


def generator_config(name: str, kind: str) -> str:
    """The config of generator ``kind`` at the scale of ``name`` (``vit``: ``name`` itself)."""
    return name if kind == 'vit' else name.replace('.py', f'_{kind}-gen.py')


def banner_overrides(name: str) -> dict:
    """The ``--cfg-options`` each config's banner documents, per generator kind."""
    with open(osp.join(REPO_ROOT, 'configs', name)) as f:
        banner = ''.join(line[1:] for line in f if line.startswith('#'))
    options, kind = {}, None
    for word in banner.split():
        if word in ('conv:', 'pixel:'):
            kind = word[:-1]
            options[kind] = []
        elif kind and re.fullmatch(r'[\w.]+=\S+', word):
            options[kind].append(word)
        elif kind and word != '--cfg-options':
            kind = None
    parsed = {}
    for kind, words in options.items():
        namespace = argparse.Namespace()
        DictAction(option_strings=['--cfg-options'], dest='options')(None, namespace, words)
        parsed[kind] = namespace.options
    return parsed


@pytest.mark.parametrize('name', CLS_CONFIGS)
def test_generator_configs_and_banner_cfg_options_agree(name):
    overrides = banner_overrides(name)
    assert set(overrides) == {'conv', 'pixel'}
    generator_types = dict(conv='ConvGenerator', pixel='PixelBankGenerator')
    for kind, options in overrides.items():
        switched = load(generator_config(name, kind))
        assert switched.model.generator.type == generator_types[kind]
        via_options = load(name)
        via_options.merge_from_dict(options)
        assert via_options.model.to_dict() == switched.model.to_dict(), kind
        assert via_options.optim_wrapper.to_dict() == switched.optim_wrapper.to_dict(), kind
        if kind == 'pixel':
            assert switched.model.generator.batch_size == switched.train_dataloader.batch_size


def test_digits_student_has_at_most_a_quarter_of_the_teacher_params():
    cfg = load(DIGITS)
    teacher = MODELS.build(Config.fromfile(cfg.model.teacher.config).model)
    student = MODELS.build(resolved_student_config(cfg.model.to_dict()))  # stem='teacher' as the distiller resolves it
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert 4 * count(student) <= count(teacher)
    assert cfg.train_dataloader.dataset.type == 'LatentDataset'
    assert cfg.val_dataloader.dataset.type == 'DigitsClsDataset' and cfg.val_evaluator.type == 'ClsAccuracy'


TINY = {
    # Full-size timm ViTs shrunk to 32x32 inputs with 8x8 patches, 2 blocks; taps follow.
    'dfkd_deit-s_deit-ti_cifar10.py': dict(depth_T=2, depth_S=2, width_T=32, width_S=16),
    'dfkd_deit-b_deit-ti_imagenet.py': dict(depth_T=2, depth_S=2, width_T=32, width_S=16),
}


def tiny_overrides(name: str, kind: str, batch: int) -> dict:
    opts = {'model.generator_steps': 2, 'model.student_steps': 1, 'model.memory_capacity': 8,
            'train_dataloader.batch_size': batch}
    if kind == 'pixel':
        opts['model.generator.batch_size'] = batch
    if name in TINY:
        size = TINY[name]
        for who, model in (('T', 'teacher.model'), ('S', 'student')):
            opts[f'model.{model}.model_kwargs'] = dict(img_size=32, patch_size=8, embed_dim=size[f'width_{who}'],
                                                       depth=size[f'depth_{who}'], num_heads=2)
        opts['model.teacher_taps'] = dict(attn=blocks(range(2)), patch_attn=blocks((0, 1)))
        opts['model.student_taps'] = dict(patch_attn=blocks((0, 1)))
        opts['model.generator.img_size'] = 32
        if kind == 'vit':
            opts.update({'model.generator.patch_size': 8, 'model.generator.embed_dim': 32,
                         'model.generator.depth': 1, 'model.generator.latent_dim': 32})
    return opts


def save_random_teacher(cfg: Config, path: str) -> str:
    teacher = cfg.model.teacher
    model_cfg = Config.fromfile(teacher.config).model if 'config' in teacher else teacher.model
    torch.save({'state_dict': MODELS.build(model_cfg).state_dict()}, path)
    return path


@pytest.mark.parametrize('name,kind', [(DIGITS, 'vit'), (DIGITS, 'conv'), (DIGITS, 'pixel'),
                                       ('dfkd_deit-s_deit-ti_cifar10.py', 'vit'),
                                       ('dfkd_deit-b_deit-ti_imagenet.py', 'conv')])
def test_config_builds_and_runs_one_train_step(name, kind, tmp_path):
    from mmengine.optim import build_optim_wrapper
    cfg = load(generator_config(name, kind))
    cfg.merge_from_dict(tiny_overrides(name, kind, batch=2))
    cfg.model.teacher.checkpoint = save_random_teacher(cfg, str(tmp_path / 'teacher.pth'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    student0 = snapshot(model.student)
    log = model.train_step(dict(index=[0, 1]), optim)
    assert {'S.loss_kd', 'S.loss_ce', 'S.loss_patch', 'G.loss_attn', 'G.loss_conf'} <= set(log)
    assert all(torch.isfinite(v) for v in log.values())
    assert changed(student0, model.student)


def test_sprite_preset_builds_and_updates_generator_and_student_not_teacher(tmp_path):
    """The sprite-gen config: sprite bank + one-box layouts + ClsTaskPrior + fresh student batches."""
    from mmengine.optim import build_optim_wrapper
    cfg = load(generator_config(DIGITS, 'sprite'))
    assert cfg.model.generator.type == 'SpriteBankGenerator'
    assert set(cfg.model.priors) == {'task'} and cfg.model.priors.task.type == 'ClsTaskPrior'
    assert cfg.model.layout_sampler.max_objects == 1 and cfg.model.layout_sampler.max_size == 32
    assert cfg.model.fresh_student_batches and cfg.model.memory_capacity == 0
    assert cfg.train_cfg.max_iters == cfg.max_iters != load(DIGITS).train_cfg.max_iters  # its own schedule
    cfg.merge_from_dict({'train_dataloader.batch_size': 4})
    cfg.model.teacher.checkpoint = save_random_teacher(cfg, str(tmp_path / 'teacher.pth'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    teacher0, student0, generator0 = snapshot(model.teacher), snapshot(model.student), snapshot(model.generator)
    log = model.train_step(dict(index=[0, 1, 2, 3]), optim)
    assert set(log) == {'G.loss_task', 'S.loss_kd', 'S.loss_ce', 'S.loss_patch'}
    assert all(torch.isfinite(v) for v in log.values())
    assert changed(student0, model.student) and changed(generator0, model.generator)
    for name in ('alpha_logits', 'colour_logits', 'background_logits'):  # sprites, inks, backgrounds all learn
        assert not torch.equal(generator0[name], getattr(model.generator, name)), name
    assert not changed(teacher0, model.teacher)
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.last_synthetic.shape == (4, 3, 32, 32) and len(model.memory) == 0


def test_short_run_reports_top1_on_digits_cls(tmp_path):
    """2 iterations of configs/dfkd_deit-nano_deit-pico_digits-cls.py (tiny widths) on a Digits-Cls fixture."""
    from mmengine.runner import Runner

    from mmdfkd.testing import write_digits_cls_fixture
    root = write_digits_cls_fixture(str(tmp_path / 'digits-cls'), num_train=2, num_val=6)
    cfg = load(DIGITS)
    teacher = tiny_vit(embed_dim=32, depth=2, num_heads=2)
    torch.save({'state_dict': MODELS.build(teacher).state_dict()}, tmp_path / 'teacher.pth')
    cfg.merge_from_dict({
        'model.teacher': dict(_delete_=True, model=dict(teacher, expose_attention=True),
                              checkpoint=str(tmp_path / 'teacher.pth')),
        'model.student.model_kwargs': dict(patch_size=8, embed_dim=16, depth=2, num_heads=2),
        'model.generator': dict(_delete_=True, type='ConvGenerator', img_size=32, latent_dim=16),
        'model.teacher_taps': dict(attn=blocks(range(2)), patch_attn=blocks((0, 1))),
        'model.student_taps': dict(patch_attn=blocks((0, 1))),
        'model.student_steps': 1, 'model.memory_capacity': 8,
        'train_dataloader.batch_size': 2, 'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
        'val_dataloader.dataset.data_root': root, 'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False, 'val_dataloader.batch_size': 4,
        'param_scheduler.student': [], 'custom_hooks': [],
        'default_hooks.logger.interval': 1, 'default_hooks.checkpoint.interval': 100})
    cfg.test_dataloader = cfg.val_dataloader
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert 0.0 <= metrics['accuracy/top1'] <= 1.0
    scalars = osp.join(runner.log_dir, 'vis_data', 'scalars.json')
    assert '"accuracy/top1"' in open(scalars).read()  # the in-training validation logged it too
