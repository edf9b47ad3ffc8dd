"""ConvConnector and LinearConnector."""
import pytest
import torch

from mmdfkd.models.connectors import ConvConnector, LinearConnector
from mmdfkd.registry import MODELS


def test_conv_connector_maps_channels_and_resizes_to_teacher():
    connector = MODELS.build(dict(type='ConvConnector', in_channels=4, out_channels=6, with_bn=True,
                                  with_relu=True))
    connector.init_weights()
    assert isinstance(connector, ConvConnector)
    out = connector(torch.randn(2, 4, 4, 4), torch.zeros(2, 6, 8, 8))
    assert out.shape == (2, 6, 8, 8) and (out >= 0).all()
    assert connector(torch.randn(2, 4, 5, 3)).shape == (2, 6, 5, 3)


def test_conv_connector_applies_to_every_fpn_level():
    connector = ConvConnector(4, 6)
    feats_S = [torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4)]
    outs = connector(feats_S, [torch.zeros(1, 6, 8, 8), torch.zeros(1, 6, 2, 2)])
    assert isinstance(outs, tuple) and [o.shape for o in outs] == [(1, 6, 8, 8), (1, 6, 2, 2)]
    torch.testing.assert_close(outs[0], connector.layers(feats_S[0]))


def test_conv_connector_rejects_wrong_channels():
    with pytest.raises(ValueError, match='set in_channels'):
        ConvConnector(4, 6)(torch.randn(1, 3, 2, 2))


def _identity_linear(channels: int) -> LinearConnector:
    connector = LinearConnector(channels, channels)
    with torch.no_grad():
        connector.linear.weight.copy_(torch.eye(channels))
        connector.linear.bias.zero_()
    return connector


def test_linear_connector_maps_width_and_resizes_square_token_grid():
    connector = MODELS.build(dict(type='LinearConnector', in_channels=3, out_channels=5))
    assert connector(torch.randn(2, 16, 3), torch.zeros(2, 4, 5)).shape == (2, 4, 5)
    # bilinear down-sampling by 2 averages each 2x2 block of the 4x4 grid
    tokens = torch.arange(16.).reshape(1, 16, 1)
    out = _identity_linear(1)(tokens, torch.zeros(1, 4, 1))
    torch.testing.assert_close(out.flatten(), torch.tensor([2.5, 4.5, 10.5, 12.5]))


def test_linear_connector_keeps_prefix_tokens():
    connector = LinearConnector(2, 2, num_prefix_tokens=1)
    with torch.no_grad():
        connector.linear.weight.copy_(torch.eye(2))
        connector.linear.bias.zero_()
    tokens = torch.randn(1, 1 + 16, 2)
    out = connector(tokens, torch.zeros(1, 1 + 64, 2))
    assert out.shape == (1, 65, 2)
    torch.testing.assert_close(out[:, 0], tokens[:, 0])


def test_linear_connector_resizes_nhwc_maps():
    out = LinearConnector(3, 8)([torch.randn(2, 2, 3, 3)], [torch.zeros(2, 4, 6, 8)])
    assert out[0].shape == (2, 4, 6, 8)


def test_linear_connector_non_square_token_count_says_what_to_set():
    with pytest.raises(ValueError, match='num_prefix_tokens'):
        LinearConnector(3, 3)(torch.randn(1, 17, 3), torch.zeros(1, 5, 3))


def test_linear_connector_rejects_mixed_layouts():
    with pytest.raises(ValueError, match='different layouts'):
        LinearConnector(3, 3)(torch.randn(1, 2, 2, 3), torch.zeros(1, 4, 3))
