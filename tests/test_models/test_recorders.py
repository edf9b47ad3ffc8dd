"""ModuleRecorder: forward-hook taps by module name."""
import pytest
import torch
import torch.nn as nn

from mmdfkd.models.recorders import ModuleRecorder


class _Net(nn.Module):
    """stem -> body (two linears) -> head; ``shared`` runs twice."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(3, 4)
        self.body = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
        self.shared = nn.Identity()
        self.unused = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.shared(self.stem(x))
        return self.shared(self.body(x) * 2)


def _all_hooks(model: nn.Module) -> list:
    return [h for m in model.modules() for h in m._forward_hooks.values()]


def test_records_named_outputs_and_removes_hooks_on_exit():
    net = _Net()
    x = torch.randn(2, 3)
    recorder = ModuleRecorder(net, dict(stem='stem', last='body.2', both=['body.0', 'stem']))
    with recorder:
        assert len(_all_hooks(net)) == 3  # one per distinct module
        out = net(x)
    assert _all_hooks(net) == []
    taps = recorder.taps
    stem = net.stem(x)
    torch.testing.assert_close(taps['stem'], stem)
    torch.testing.assert_close(taps['last'] * 2, out)
    torch.testing.assert_close(taps['both'][0], net.body[0](stem))
    torch.testing.assert_close(taps['both'][1], stem)
    assert taps['last'].requires_grad  # not detached: the student learns through its taps


def test_hooks_removed_when_forward_raises():
    net = _Net()
    recorder = ModuleRecorder(net, dict(stem='stem'))
    with pytest.raises(RuntimeError):
        with recorder:
            net(torch.randn(2, 5))  # wrong width
    assert _all_hooks(net) == []


def test_module_called_twice_keeps_last_or_all():
    net = _Net()
    x = torch.randn(1, 3)
    with ModuleRecorder(net, dict(s='shared')) as last:
        out = net(x)
    torch.testing.assert_close(last.taps['s'], out)
    with ModuleRecorder(net, dict(s='shared'), keep_all=True) as every:
        net(x)
    assert len(every.taps['s']) == 2
    torch.testing.assert_close(every.taps['s'][0], net.stem(x))


def test_entering_again_starts_a_fresh_recording():
    net = _Net()
    recorder = ModuleRecorder(net, dict(s='shared'), keep_all=True)
    for _ in range(2):
        with recorder:
            net(torch.randn(1, 3))
    assert len(recorder.taps['s']) == 2
    recorder.reset()
    with pytest.raises(RuntimeError, match='did not run'):
        recorder.taps


def test_tap_of_module_that_did_not_run_raises():
    net = _Net()
    recorder = ModuleRecorder(net, dict(u='unused'))
    with recorder:
        net(torch.randn(1, 3))
    with pytest.raises(RuntimeError, match=r"\['unused'\] did not run"):
        recorder.taps


def test_unknown_module_name_suggests_close_matches():
    with pytest.raises(KeyError) as err:
        ModuleRecorder(_Net(), dict(x='body.3'))
    message = str(err.value)
    assert "'body.2'" in message and 'named_modules()' in message
    with pytest.raises(KeyError, match='stem'):
        ModuleRecorder(_Net(), dict(x=['body.0', 'stme']))


def test_nested_recording_is_refused():
    recorder = ModuleRecorder(_Net(), dict(s='stem'))
    with recorder:
        with pytest.raises(RuntimeError, match='already recording'):
            recorder.__enter__()


def test_taps_attention_maps_of_vit_backbone():
    from mmdfkd.models.backbones import ViT
    vit = ViT(img_size=32, patch_size=8, embed_dim=16, depth=2, num_heads=2, window_size=0,
              global_attn_indexes=(), drop_path_rate=0., expose_attention=True)
    recorder = ModuleRecorder(vit, dict(attn='blocks.1.attn.attn_drop'))
    with recorder:
        vit(torch.randn(2, 3, 32, 32))
    attn = recorder.taps['attn']
    assert attn.shape == (2 * 2, 16, 16)  # (B * heads, T, T)
    torch.testing.assert_close(attn.sum(-1), torch.ones(4, 16))
