"""SpriteBankGenerator: objects only inside boxes, contrast, gradients per class, fresh student batches."""
import pytest
import torch

from mmdfkd.models.generators import SpriteBankGenerator
from mmdfkd.models.generators.sprite_bank import LUMA

LAYOUT = [
    dict(bboxes=torch.tensor([[4., 6., 20., 30.], [30., 30., 60., 50.]]), labels=torch.tensor([3, 7])),
    dict(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long)),
]


def _inside(box, size=64):
    mask = torch.zeros(size, size, dtype=torch.bool)
    x0, y0, x1, y1 = [int(v) for v in box]
    mask[y0:y1, x0:x1] = True
    return mask


def test_opaque_sprites_paint_their_box_with_one_contrasting_ink_and_nothing_else():
    gen = SpriteBankGenerator(img_size=64, num_classes=10, sprites_per_class=2, min_contrast=100,
                              background='random', ink='random')
    with torch.no_grad():
        gen.alpha_logits.fill_(30.0)  # alpha == 1: the box shows the ink only
    torch.manual_seed(1)
    out = gen(2, LAYOUT)
    torch.manual_seed(1)
    background, base = gen.background(2, torch.device('cpu'))
    assert out.shape == (2, 3, 64, 64) and out.min() >= 0 and out.max() <= 255
    any_box = _inside(LAYOUT[0]['bboxes'][0]) | _inside(LAYOUT[0]['bboxes'][1])
    assert torch.allclose(out[0][:, ~any_box], background[0][:, ~any_box])
    assert torch.allclose(out[1], background[1])  # no boxes, no objects
    luma = torch.tensor(LUMA)
    for box in LAYOUT[0]['bboxes']:
        pixels = out[0][:, _inside(box)]  # (3, n)
        assert pixels.std(dim=1).max() < 1e-3  # one flat colour
        assert abs(pixels[:, 0] @ luma - base[0] @ luma) >= 100 - 1e-3


def test_transparent_sprites_leave_the_background():
    gen = SpriteBankGenerator(img_size=64, num_classes=10)
    with torch.no_grad():
        gen.alpha_logits.fill_(-30.0)
    torch.manual_seed(2)
    out = gen(2, LAYOUT)
    torch.manual_seed(2)
    assert torch.allclose(out, gen.background(2, torch.device('cpu'))[0], atol=1e-4)


@pytest.mark.parametrize('ink', ['random', 'learned'])
def test_gradients_reach_only_the_sprites_of_the_drawn_classes(ink):
    torch.manual_seed(0)
    gen = SpriteBankGenerator(img_size=64, num_classes=10, sprites_per_class=3, ink=ink)
    gen(2, LAYOUT).square().mean().backward()
    params = [gen.alpha_logits] + ([gen.colour_logits] if ink == 'learned' else [])
    for param in params:
        per_class = param.grad.abs().flatten(1).sum(1)
        assert per_class[3] > 0 and per_class[7] > 0
        assert per_class[[0, 1, 2, 4, 5, 6, 8, 9]].sum() == 0


def test_random_ink_falls_back_to_black_or_white_when_nothing_contrasts():
    gen = SpriteBankGenerator(img_size=32, num_classes=2, min_contrast=254)
    ink = gen.random_ink(torch.tensor([[250., 250., 250.], [5., 5., 5.]]))
    assert torch.equal(ink, torch.tensor([[0., 0., 0.], [255., 255., 255.]]))


def test_sprite_bank_errors_name_the_fix():
    with pytest.raises(ValueError, match='num_classes'):
        SpriteBankGenerator(img_size=32, num_classes=None)
    with pytest.raises(ValueError, match="'random' or 'learned'"):
        SpriteBankGenerator(img_size=32, num_classes=2, ink='texture')
    gen = SpriteBankGenerator(img_size=32, num_classes=2)
    with pytest.raises(ValueError, match='layout_sampler'):
        gen(2, None)
    with pytest.raises(ValueError, match=r'labels must lie in \[0, 2\)'):
        gen(1, [dict(bboxes=torch.tensor([[0., 0., 8., 8.]]), labels=torch.tensor([5]))])


def test_learned_backgrounds_are_drawn_from_the_bank_and_receive_gradients():
    torch.manual_seed(0)
    one = SpriteBankGenerator(img_size=16, num_classes=2, background='learned', field_std=(0, 0), noise_std=(0, 0))
    assert torch.equal(one.background_logits, torch.zeros(1, 3))  # one colour: starts mid-grey
    gen = SpriteBankGenerator(img_size=16, num_classes=2, background='learned', num_backgrounds=3,
                              field_std=(0, 0), noise_std=(0, 0))
    with torch.no_grad():
        gen.alpha_logits.fill_(-30.0)  # transparent sprites: the image is its background
    layout = [dict(bboxes=torch.tensor([[0., 0., 8., 8.]]), labels=torch.tensor([1]))] * 6
    out = gen(6, layout)
    colours = 255 * torch.sigmoid(gen.background_logits.detach())
    for image in out.detach():
        assert (image.flatten(1).std(1) < 1e-3).all()
        assert torch.isclose(image[:, 0, 0][None], colours, atol=1e-3).all(1).any()
    out.mean().backward()
    assert gen.background_logits.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="background must be 'styles', 'natural', 'random' or 'learned'"):
        SpriteBankGenerator(img_size=16, num_classes=2, background='photo')
    with pytest.raises(ValueError, match='num_backgrounds must be >= 1'):
        SpriteBankGenerator(img_size=16, num_classes=2, background='learned', num_backgrounds=0)


def test_grey_renders_the_luma_of_the_colour_composite_in_every_channel():
    gen = SpriteBankGenerator(img_size=64, num_classes=10, ink='learned', grey=True)
    torch.manual_seed(3)
    out = gen(2, LAYOUT)
    gen.grey = False
    torch.manual_seed(3)
    colour = gen(2, LAYOUT)
    luma = (colour * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1)
    for c in range(3):
        torch.testing.assert_close(out[:, c], luma)


def test_opaque_sprites_reach_full_ink_at_their_strongest_point():
    gen = SpriteBankGenerator(img_size=64, num_classes=10, sprites_per_class=1, sprite_size=2, opaque=True)
    with torch.no_grad():
        gen.alpha_logits.fill_(-3.0)  # alpha ~0.05 everywhere: faint without `opaque`
        gen.alpha_logits[3, 0, 0, 0, 0] = 0.0  # alpha 0.5 at one corner
    torch.manual_seed(3)
    out = gen(1, [dict(bboxes=torch.tensor([[0., 0., 2., 2.]]), labels=torch.tensor([3]))])
    torch.manual_seed(3)
    background = gen.background(1, torch.device('cpu'))[0][0]
    ink = out[0, :, 0, 0]  # fully opaque where alpha is largest: the ink itself
    assert (ink - background[:, 0, 0]).abs().max() > 1
    alpha = torch.sigmoid(torch.tensor(-3.0)) / 0.5
    expected = background[:, 1, 1] + alpha * (ink - background[:, 1, 1])
    assert torch.allclose(out[0, :, 1, 1], expected, atol=1e-3)


def test_mix_and_warp_keep_objects_in_their_box_and_gradients_in_their_class():
    torch.manual_seed(0)
    gen = SpriteBankGenerator(img_size=64, num_classes=10, sprites_per_class=4, ink='learned', mix=True,
                              max_rotation=20, max_shear=0.3, background='random', field_std=(0, 0), noise_std=(0, 0))
    out = gen(2, LAYOUT)
    assert out.shape == (2, 3, 64, 64) and torch.isfinite(out).all()
    outside = ~(_inside(LAYOUT[0]['bboxes'][0]) | _inside(LAYOUT[0]['bboxes'][1]))
    background = out[0][:, outside]
    assert (background - background[:, :1]).abs().max() < 1e-3  # a flat background, untouched outside the boxes
    out.square().mean().backward()
    for param in (gen.alpha_logits, gen.colour_logits):
        per_class = param.grad.abs().flatten(1).sum(1)
        assert per_class[3] > 0 and per_class[7] > 0 and per_class[[0, 1, 2, 4, 5, 6, 8, 9]].sum() == 0
    # No rotation and no shear is the identity warp.
    alpha, colour = torch.rand(1, 5, 7), torch.rand(3, 5, 7)
    plain = SpriteBankGenerator(img_size=8, num_classes=1, max_rotation=1e-9)
    warped_alpha, warped_colour = plain._warp(alpha, colour)
    torch.testing.assert_close(warped_alpha, alpha, atol=1e-5, rtol=0)
    torch.testing.assert_close(warped_colour, colour, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match='max_rotation and max_shear must be >= 0'):
        SpriteBankGenerator(img_size=8, num_classes=1, max_shear=-1)
