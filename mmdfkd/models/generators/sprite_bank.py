"""Objects as learned per-class sprites, composited onto procedural backgrounds."""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmdfkd.registry import MODELS

from .base import BaseGenerator
from .natural_prior import leaves_background, natural_images, spectral_background

# ITU-R BT.601 luma weights, for the ink / background contrast.
LUMA = (0.299, 0.587, 0.114)
#: the generic appearance families of ``background='styles'`` / ``ink='styles'``; style ``s`` pairs
#: background ``s // 3`` with ink ``s % 3``
STYLE_BACKGROUNDS = ('smooth', 'spectral', 'leaves')
STYLE_INKS = ('flat', 'contrast', 'texture')


@MODELS.register_module()
class SpriteBankGenerator(BaseGenerator):
    """Model inversion of *objects* instead of whole images.

    The parameters are ``sprites_per_class`` small alpha mattes per class,
    ``alpha_logits`` (K, M, 1, s, s) (and, with ``ink='learned'``, colour
    logits (K, M, 3, s, s)). :meth:`forward` renders every image of a layout
    from scratch:

    1. a background: with ``background='natural'`` (the default) a
       procedural image with the statistics of photographs, dead leaves or
       ``1/f^2`` spectral noise (:mod:`~mmdfkd.models.generators.natural_prior`,
       after Baradad et al., NeurIPS 2021, "learning to see by looking at
       noise"); with ``'random'`` / ``'learned'`` a base colour with a smooth
       colour field upsampled from a ``field_grid`` x ``field_grid`` grid
       and pixel noise;
    2. for every box of class ``c``, a random sprite of class ``c`` resized
       (bilinear) to the box and alpha-blended in with an ink: with
       ``ink='natural'`` (the default) a uniformly random flat colour or a
       texture from the same natural-image prior, half and half, with no
       contrast floor (the teacher's loss, not our guess, decides what is
       visible); with ``'random'`` a random colour whose luma differs from
       the background's base by at least ``min_contrast``; with
       ``'learned'`` the sprite's own learned colours.

    Trained with the teacher's own detection loss against the layout
    (:class:`~mmdfkd.models.priors.DetTaskPrior`), each sprite becomes an
    object the teacher detects as its class, at any position, size, colour
    and background, because each step renders them under new ones (an
    expectation over transformations). The objects are thus synthesised
    once, and any number of new scenes cost one cheap composition each: set
    the distiller's ``fresh_student_batches=True`` to train the student on
    a new scene batch every step. The cost of synthesis no longer grows with
    the number of images, which is what made per-image inversion (DIODE,
    thousands of steps per batch) too slow for a CPU.

    Args:
        img_size (int | Sequence[int]): ``S`` or ``(H, W)``.
        num_classes (int): Number of object classes ``K``.
        sprites_per_class (int): Sprites ``M`` per class. Default: 16.
        sprite_size (int): Side ``s`` of the stored mattes; sprites are
            upsampled to their box, so a small side is a smoothness prior.
            Default: 16.
        init_mean (float): Mean of the initial alpha logits; negative
            starts sprites mostly transparent, so the teacher's loss has to
            draw ink onto background rather than carve it out of a filled
            box. Default: -2.0.
        init_std (float): Std of the initial alpha logits. Default: 1.0.
        ink (str): 'natural' (a random flat colour or a natural texture per
            object), 'random' (a random flat colour contrasting with the
            background) or 'learned' (per-sprite colours). Default: 'natural'.
        min_contrast (float): Least luma difference between a random ink and
            the background's base colour, in [0, 255). Default: 64.
        field_grid (int): Resolution of the smooth background field.
            Default: 4.
        field_std (tuple[float, float]): Range of the field's std per image.
            Default: (0, 60).
        noise_std (tuple[float, float]): Range of the pixel-noise std per
            image. Default: (0, 20).
        background (str): 'natural' (dead leaves or spectral noise, see
            above), 'random' (a uniformly random base colour per image with a
            smooth field and noise) or 'learned' (``num_backgrounds`` base colours, parameters
            the teacher's loss optimises like the sprites; each image picks
            one at random, and the field and the noise still vary per image).
            A teacher trained on a single background (e.g. white digits on
            black) recognises almost nothing on random colours and so cannot
            teach its classes there; learned backgrounds let it pull them
            towards colours it knows. Default: 'natural'.
        num_backgrounds (int): Learned base colours (``background='learned'``).
            One starts mid-grey; several start uniformly random, so that the
            teacher's loss can pull each to the nearest colour it knows, and
            the student sees more than one. Default: 1.
        grey (bool): Render every composite as its luma (BT.601) in all
            three channels, for teachers trained on greyscale images stored
            as RGB -- a fact about the input format, like the image size.
            Such a teacher never saw a colour difference between channels;
            what it does with one is an accident of its initial weights, so
            colour composites fool it instead of teaching its classes.
            Default: False.
        opaque (bool): Divide each sprite's alpha by its maximum, so every
            object is fully opaque somewhere and the teacher's loss shapes
            where the ink goes rather than how faint it is -- a prior that
            objects occlude what is behind them. Default: False.
        mix (bool): Draw each object from two random sprites of its class,
            blended with a random weight (of their alpha and colour logits),
            so the student sees shapes between the stored ones rather than
            only ``sprites_per_class`` of them. Default: False.
        max_rotation (float): Rotate each object by a uniform angle in
            ``[-max_rotation, max_rotation]`` degrees. Default: 0.
        max_shear (float): Shear each object horizontally by a uniform factor
            in ``[-max_shear, max_shear]`` (slant). Default: 0.
    """

    def __init__(self,
                 img_size: Union[int, Sequence[int]],
                 num_classes: int,
                 sprites_per_class: int = 16,
                 sprite_size: int = 16,
                 init_mean: float = -2.0,
                 init_std: float = 1.0,
                 ink: str = 'natural',
                 min_contrast: float = 64.0,
                 field_grid: int = 4,
                 field_std: Tuple[float, float] = (0.0, 60.0),
                 noise_std: Tuple[float, float] = (0.0, 20.0),
                 background: str = 'natural',
                 num_backgrounds: int = 1,
                 grey: bool = False,
                 opaque: bool = False,
                 mix: bool = False,
                 max_rotation: float = 0.0,
                 max_shear: float = 0.0) -> None:
        if num_classes is None or num_classes < 1:
            raise ValueError('SpriteBankGenerator draws one sprite per box of the layout and needs '
                             f'num_classes >= 1 (the teacher\'s classes), got {num_classes}.')
        super().__init__(img_size, num_classes=num_classes)
        if sprites_per_class < 1 or sprite_size < 1 or field_grid < 1:
            raise ValueError('sprites_per_class, sprite_size and field_grid must be >= 1, got '
                             f'{sprites_per_class}, {sprite_size} and {field_grid}.')
        if ink not in ('styles', 'natural', 'random', 'learned'):
            raise ValueError(f"ink must be 'styles', 'natural', 'random' or 'learned', got {ink!r}.")
        if background not in ('styles', 'natural', 'random', 'learned'):
            raise ValueError(f"background must be 'styles', 'natural', 'random' or 'learned', got {background!r}.")
        if (ink == 'styles') != (background == 'styles'):
            raise ValueError("background='styles' and ink='styles' go together: a style is a (background, ink) pair.")
        if num_backgrounds < 1:
            raise ValueError(f'num_backgrounds must be >= 1, got {num_backgrounds}.')
        if max_rotation < 0 or max_shear < 0:
            raise ValueError(f'max_rotation and max_shear must be >= 0, got {max_rotation} and {max_shear}.')
        if not 0 <= min_contrast < 255:
            raise ValueError(f'min_contrast must be in [0, 255), got {min_contrast}.')
        self.sprites_per_class = sprites_per_class
        self.grey = grey
        self.opaque = opaque
        self.mix = mix
        self.max_rotation = float(max_rotation)
        self.max_shear = float(max_shear)
        self.ink = ink
        self.min_contrast = float(min_contrast)
        self.field_grid = field_grid
        self.field_std = tuple(float(v) for v in field_std)
        self.noise_std = tuple(float(v) for v in noise_std)
        shape = (num_classes, sprites_per_class)
        self.alpha_logits = nn.Parameter(init_mean + torch.randn(*shape, 1, sprite_size, sprite_size) * init_std)
        self.colour_logits = (nn.Parameter(torch.randn(*shape, 3, sprite_size, sprite_size) * init_std)
                              if ink == 'learned' else None)
        self.background_mode = background
        self.background_logits = None
        if background == 'learned':
            # One: mid-grey, sigmoid(0) * 255; several: uniform colours in (0, 255), i.e. logit(U(0, 1)).
            init = (torch.zeros(1, 3) if num_backgrounds == 1 else
                    torch.logit(torch.rand(num_backgrounds, 3).clamp(0.02, 0.98)))
            self.background_logits = nn.Parameter(init)

    @property
    def num_styles(self) -> int:
        """Appearance styles a layout may choose per image (``'style'``); 0 unless ``background='styles'``."""
        return len(STYLE_BACKGROUNDS) * len(STYLE_INKS) if self.background_mode == 'styles' else 0

    def background(self, batch_size: int, device: torch.device,
                   styles: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Draw procedural backgrounds.

        Args:
            batch_size (int): images ``N``.
            device (torch.device): where to draw them.
            styles (Tensor, optional): (N,) style ids (``background='styles'``).

        Returns:
            tuple[Tensor, Tensor]: (N, 3, H, W) pixels in [0, 255] and the
            (N, 3) base colours.
        """
        height, width = self.img_size
        if self.background_mode == 'styles':
            family = styles.to(device) // len(STYLE_INKS)
            base = torch.rand(batch_size, 3, device=device) * 255
            image = torch.empty(batch_size, 3, height, width, device=device)
            for k, draw in enumerate((lambda idx: self._smooth_background(base[idx], device),
                                      lambda idx: spectral_background(base[idx], (height, width)),
                                      lambda idx: leaves_background(len(idx), (height, width), device))):
                idx = (family == k).nonzero()[:, 0]
                if len(idx):  # each family is drawn only for its own images
                    image[idx] = draw(idx)
            image = image.clamp(0, 255)
            return image, torch.where(family.view(-1, 1) == 2, image.mean(dim=(2, 3)), base)
        if self.background_mode == 'natural':
            image = natural_images(batch_size, (height, width), device)
            return image, image.mean(dim=(2, 3))
        if self.background_logits is None:
            base = torch.rand(batch_size, 3, device=device) * 255
        else:
            picks = torch.randint(0, len(self.background_logits), (batch_size, ), device=device)
            base = 255 * torch.sigmoid(self.background_logits)[picks]
        return self._smooth_background(base, device).clamp(0, 255), base

    def _smooth_background(self, base: Tensor, device: torch.device) -> Tensor:
        """(N, 3, H, W) unclamped: ``base`` (N, 3) + a smooth colour field from a ``field_grid`` grid + pixel noise."""
        batch_size, (height, width) = len(base), self.img_size
        field_std = self._uniform(self.field_std, batch_size, device)
        field = torch.randn(batch_size, 3, self.field_grid, self.field_grid, device=device)
        field = F.interpolate(field, size=(height, width), mode='bilinear', align_corners=False)
        field = field / field.flatten(1).std(dim=1).clamp(min=1e-6).view(-1, 1, 1, 1)
        noise = torch.randn(batch_size, 3, height, width, device=device)
        return (base[:, :, None, None] + field * field_std.view(-1, 1, 1, 1) +
                noise * self._uniform(self.noise_std, batch_size, device).view(-1, 1, 1, 1))

    def random_ink(self, base: Tensor) -> Tensor:
        """Ink colours (k, 3) whose luma differs from ``base`` (k, 3) by >= ``min_contrast``.

        Rejection-samples 10 times; colours still too close become black or
        white, whichever contrasts more.
        """
        luma = base.new_tensor(LUMA)
        ink = torch.rand_like(base) * 255
        for _ in range(10):
            bad = (ink @ luma - base @ luma).abs() < self.min_contrast
            if not bad.any():
                return ink
            ink = torch.where(bad[:, None], torch.rand_like(ink) * 255, ink)
        bad = (ink @ luma - base @ luma).abs() < self.min_contrast
        extreme = torch.where((base @ luma > 127.5)[:, None], torch.zeros_like(ink), torch.full_like(ink, 255.0))
        return torch.where(bad[:, None], extreme, ink)

    def forward(self, batch_size: int, layout: Optional[List[dict]] = None) -> Tensor:
        """Render the layout's objects onto fresh backgrounds.

        Args:
            batch_size (int): Number of images ``N``.
            layout (list[dict]): ``N`` dicts with ``'bboxes'`` (k, 4) xyxy
                pixels and ``'labels'`` (k,) long in ``[0, K)``.

        Returns:
            Tensor: (N, 3, H, W) float in [0, 255].
        """
        if layout is None or len(layout) != batch_size:
            raise ValueError('SpriteBankGenerator renders a layout: give the distiller a layout_sampler '
                             f'(got {"no layout" if layout is None else f"{len(layout)} layouts"} for '
                             f'{batch_size} images).')
        device = next(self.parameters()).device
        styles = None
        if self.background_mode == 'styles':
            styles = torch.stack([item['style'].view(()) if 'style' in item else torch.randint(0, self.num_styles, ())
                                  for item in layout]).long()
        images, base = self.background(batch_size, device, styles)
        height, width = self.img_size
        out = []
        for i, item in enumerate(layout):
            image = images[i]
            labels = item['labels'].long()
            if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ValueError(f'layout labels must lie in [0, {self.num_classes}), got {labels.tolist()}')
            alpha_logits, colour_logits = self.object_logits(labels)
            inks = self.random_ink(base[i].detach().expand(len(labels), 3)) if self.ink == 'random' else None
            if self.ink == 'natural':
                inks = torch.rand(len(labels), 3, device=device) * 255
                textured = (torch.rand(len(labels)) < 0.5).tolist()
                texture = natural_images(1, (height, width), device)[0] if any(textured) else None
            if self.ink == 'styles':
                ink_family = STYLE_INKS[int(styles[i]) % len(STYLE_INKS)]
                inks = (self.random_ink(base[i].detach().expand(len(labels), 3)) if ink_family == 'contrast' else
                        torch.rand(len(labels), 3, device=device) * 255)
                textured = [ink_family == 'texture'] * len(labels)
                texture = natural_images(1, (height, width), device)[0] if ink_family == 'texture' else None
            for j, box in enumerate(item['bboxes'].tolist()):
                x0, y0 = max(0, int(math.floor(box[0]))), max(0, int(math.floor(box[1])))
                x1, y1 = min(width, int(math.ceil(box[2]))), min(height, int(math.ceil(box[3])))
                if x1 <= x0 or y1 <= y0:
                    continue
                alpha = torch.sigmoid(alpha_logits[j])
                if self.opaque:
                    alpha = alpha / alpha.amax().clamp(min=1e-6)
                alpha = F.interpolate(alpha[None], size=(y1 - y0, x1 - x0), mode='bilinear', align_corners=False)[0]
                if self.ink in ('natural', 'styles') and textured[j]:
                    colour = texture[:, y0:y1, x0:x1]
                elif inks is not None:
                    colour = inks[j].view(3, 1, 1)
                else:
                    colour = 255 * torch.sigmoid(F.interpolate(
                        colour_logits[j][None], size=(y1 - y0, x1 - x0), mode='bilinear', align_corners=False)[0])
                if self.max_rotation > 0 or self.max_shear > 0:
                    alpha, colour = self._warp(alpha, colour)
                # Pad the blended patch into a full-size delta: keeps the graph free of in-place writes.
                patch = image[:, y0:y1, x0:x1]
                delta = alpha * (colour - patch)
                image = image + F.pad(delta, (x0, width - x1, y0, height - y1))
            out.append(image)
        out = torch.stack(out)
        if self.grey:
            out = torch.einsum('nchw,c->nhw', out, out.new_tensor(LUMA))[:, None].expand(-1, 3, -1, -1)
        return out

    def object_logits(self, labels: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """The mattes of one image's objects: a random stored sprite of each one's class.

        With ``mix``, each is a random blend of two sprites of its class.

        Args:
            labels (Tensor): (k,) classes of the image's objects.

        Returns:
            tuple[Tensor, Tensor | None]: (k, 1, s, s) alpha logits and, with
            ``ink='learned'``, (k, 3, s, s) colour logits.
        """
        labels = labels.to(self.alpha_logits.device)
        picks = torch.randint(0, self.sprites_per_class, (len(labels), )).to(labels.device)
        alpha, colour = self.alpha_logits[labels, picks], None
        if self.colour_logits is not None:
            colour = self.colour_logits[labels, picks]
        if self.mix:
            mates = torch.randint(0, self.sprites_per_class, (len(labels), )).to(labels.device)
            weights = torch.rand(len(labels)).to(alpha).view(-1, 1, 1, 1)
            alpha = weights * alpha + (1 - weights) * self.alpha_logits[labels, mates]
            if colour is not None:
                colour = weights * colour + (1 - weights) * self.colour_logits[labels, mates]
        return alpha, colour

    def _warp(self, alpha: Tensor, colour: Tensor) -> Tuple[Tensor, Tensor]:
        """Rotate and shear one object's (1, h, w) alpha (outside: transparent) and its colour."""
        angle = math.radians(self.max_rotation) * (2 * float(torch.rand(())) - 1)
        shear = self.max_shear * (2 * float(torch.rand(())) - 1)
        cos, sin = math.cos(angle), math.sin(angle)
        # Output -> input sampling coordinates (normalised): rotation, then a horizontal shear.
        theta = alpha.new_tensor([[cos, -sin + shear * cos, 0.0], [sin, cos + shear * sin, 0.0]])[None]
        grid = F.affine_grid(theta, (1, 1) + tuple(alpha.shape[-2:]), align_corners=False)
        alpha = F.grid_sample(alpha[None], grid, mode='bilinear', padding_mode='zeros', align_corners=False)[0]
        if colour.dim() == 3 and colour.shape[-2:] == alpha.shape[-2:]:
            colour = F.grid_sample(colour[None], grid, mode='bilinear', padding_mode='border', align_corners=False)[0]
        return alpha, colour

    @staticmethod
    def _uniform(bounds: Tuple[float, float], n: int, device: torch.device) -> Tensor:
        return bounds[0] + torch.rand(n, device=device) * (bounds[1] - bounds[0])
