"""Layouts whose object sizes come from the teacher: its head, then its own detections."""
import math
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet.structures.bbox import bbox_overlaps
from mmengine.logging import print_log
from torch import nn

from mmdfkd.registry import MODELS

from .layout import LayoutSampler, occupancy_max_objects


def head_size_range(teacher: nn.Module, img_size: Tuple[int, int]) -> Tuple[float, float, str]:
    """The object sides a detector's head was built to detect, from its configuration alone.

    - **point heads with regress ranges** (FCOS): a box's centre point has
      largest regression distance ``max(w, h) / 2``, so level ``i`` serves
      sides in ``(2 lo_i, 2 hi_i]``; the smallest side is two cells of the
      finest stride (a box needs points inside it), the largest twice the
      upper bound of the last bounded range (an unbounded last range adds
      nothing the image can hold);
    - **anchor heads** (RetinaNet, ATSS, the RPN of a two-stage detector):
      the smallest and largest anchor of the anchor generator;
    - otherwise: two cells of the finest stride up to the image.

    Every range is clamped to the image's shorter side.

    Args:
        teacher (nn.Module): an mmdet detector.
        img_size (tuple[int, int]): ``(H, W)`` of the synthetic images.

    Returns:
        tuple[float, float, str]: ``(min_side, max_side, source)``, where
        ``source`` says which rule gave them, for the log.
    """
    short = float(min(img_size))
    head = getattr(teacher, 'bbox_head', None) or getattr(teacher, 'rpn_head', None)
    if head is None:
        raise ValueError(f'{type(teacher).__name__} has neither bbox_head nor rpn_head: TeacherLayoutSampler reads '
                         'the object scales from a detection head; give explicit min_size / max_size instead.')
    anchors = getattr(head, 'prior_generator', None) or getattr(head, 'anchor_generator', None)
    strides = [s[0] if isinstance(s, (tuple, list)) else s for s in getattr(head, 'strides', [])]
    if not strides and anchors is not None:
        strides = [s[0] for s in anchors.strides]
    if not strides:
        raise ValueError(f'{type(head).__name__} has no strides: give TeacherLayoutSampler explicit sizes.')
    lo = 2.0 * min(strides)
    regress_ranges = getattr(head, 'regress_ranges', None)
    if regress_ranges is not None:
        bounded = [hi for _, hi in regress_ranges if hi < 1e5]
        hi = 2.0 * max(bounded) if bounded else short
        if len(bounded) < len(regress_ranges):  # the last level takes everything larger
            hi = max(hi, 2.0 * max(lo_ for lo_, _ in regress_ranges))
        source = f'{type(head).__name__} strides {strides} and regress_ranges {list(regress_ranges)}'
    elif anchors is not None and hasattr(anchors, 'base_anchors'):
        sides = torch.cat([(a[:, 2:] - a[:, :2]).flatten() for a in anchors.base_anchors])
        lo, hi = float(sides.min()), float(sides.max())
        source = f'{type(head).__name__} anchors ({lo:.0f}-{hi:.0f} px)'
    else:
        hi = short
        source = f'{type(head).__name__} strides {strides}'
    lo = min(lo, short)
    return lo, min(max(hi, lo), short), source


@MODELS.register_module()
class TeacherLayoutSampler(LayoutSampler):
    """Layouts sized from the teacher, and re-weighted by what it re-detects.

    1. **From the head** (:meth:`setup`, called by the distiller with the
       teacher): the side range is :func:`head_size_range`, split into
       ``num_bins`` log-spaced size bins sampled uniformly at first; the
       most objects per image is the generic :func:`occupancy_max_objects`
       of the current typical side, classes are uniform over the teacher's.
    2. **From its detections** (:meth:`observe`, called by the distiller
       with the teacher's detections on every synthetic batch it already
       decodes for pseudo labels -- no extra forward): a sampled box counts as
       *re-detected* when a detection of its class, scoring at least
       ``score_thr``, overlaps it with IoU >= ``iou_thr``. Each bin keeps an
       exponential moving average (momentum ``momentum``) of its re-detection
       rate, and is sampled in proportion to ``floor + rate``: sizes the
       teacher cannot be made to see become rare, but never vanish (DIODE's
       observation that a detector's own detections are the trustworthy
       boxes, turned into a size probe). The box shapes are probed the same
       way: ``num_aspect_bins`` log-spaced bins of ``w / h`` over
       ``aspect_range``, each with its own moving re-detection rate.

    3. **Appearance from its detections**: for a generator with
       ``num_styles`` appearance styles (``SpriteBankGenerator`` with
       ``background='styles'``: generic background families x ink families),
       every image's layout also carries a ``'style'`` id, drawn in
       proportion to ``floor + rate`` of each style's re-detection rate, kept
       the same way as the sizes': the teacher chooses among generic priors
       the ones under which it sees objects.

    The statistics it settles on are logged every ``log_interval``
    observations and after :meth:`setup`. The distiller registers
    :attr:`rates` as a buffer, so checkpoints hold them and a resumed run
    samples as the interrupted one would.

    Args:
        num_bins (int): log-spaced size bins. Default: 6.
        num_aspect_bins (int): log-spaced aspect-ratio bins. Default: 3.
        score_thr (float): least teacher score of a re-detection. Default: 0.3.
        iou_thr (float): least IoU of a re-detection. Default: 0.5.
        momentum (float): weight of the old rate in the moving average.
            Default: 0.95.
        floor (float): added to every bin's rate before normalising.
            Default: 0.1.
        log_interval (int): observations between two log lines. Default: 50.
        **kwargs: :class:`LayoutSampler` arguments; explicit ``min_size`` /
            ``max_size`` override the head's range.
    """

    def __init__(self,
                 num_bins: int = 6,
                 num_aspect_bins: int = 3,
                 score_thr: float = 0.3,
                 iou_thr: float = 0.5,
                 momentum: float = 0.95,
                 floor: float = 0.1,
                 log_interval: int = 50,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if num_bins < 1 or num_aspect_bins < 1:
            raise ValueError(f'num_bins and num_aspect_bins must be >= 1, got {num_bins} and {num_aspect_bins}')
        if not 0 <= momentum < 1 or floor <= 0:
            raise ValueError(f'need 0 <= momentum < 1 and floor > 0, got {momentum} and {floor}')
        self.num_bins = num_bins
        self.score_thr = score_thr
        self.iou_thr = iou_thr
        self.momentum = momentum
        self.floor = floor
        self.log_interval = log_interval
        self.head_range: Optional[Tuple[float, float]] = None
        self.source = 'not set up'
        self.rates = torch.full((num_bins, ), 0.5)
        self.aspect_rates = torch.full((num_aspect_bins, ), 0.5)
        self.style_rates = torch.zeros(0)
        self.num_observed = 0

    # ---------------------------------------------------------------- setup
    def setup(self, teacher: nn.Module, img_size: Sequence[int], num_styles: int = 0) -> None:
        """Read the size range from the teacher's head (see :func:`head_size_range`).

        Args:
            teacher (nn.Module): the detector.
            img_size (Sequence[int]): ``(H, W)`` of the synthetic images.
            num_styles (int): appearance styles of the generator (0: none).
        """
        self.style_rates = torch.full((num_styles, ), 0.5)
        lo, hi, self.source = head_size_range(teacher, tuple(img_size))
        self.head_range = (self.min_size or lo, self.max_size or hi)
        self.img_size = tuple(img_size)
        print_log(f'TeacherLayoutSampler: {self.summary()}', logger='current')

    def size_range(self, img_size: Tuple[int, int]) -> Tuple[float, float]:
        if self.head_range is None:
            raise RuntimeError('TeacherLayoutSampler.setup(teacher, img_size) must run before sampling '
                               '(the DataFreeDistiller calls it when it builds the sampler).')
        return self.head_range

    @property
    def bin_edges(self) -> torch.Tensor:
        """(num_bins + 1,) log-spaced side edges in pixels."""
        lo, hi = self.head_range
        return torch.logspace(math.log10(lo), math.log10(hi), self.num_bins + 1)

    @property
    def bin_probs(self) -> torch.Tensor:
        """(num_bins,) sampling probability of each size bin."""
        return self._probs(self.rates)

    @property
    def aspect_edges(self) -> torch.Tensor:
        """(num_aspect_bins + 1,) log-spaced ``w / h`` edges over ``aspect_range``."""
        lo, hi = self.aspect_range
        return torch.logspace(math.log10(lo), math.log10(hi), len(self.aspect_rates) + 1)

    @property
    def aspect_probs(self) -> torch.Tensor:
        """(num_aspect_bins,) sampling probability of each aspect-ratio bin."""
        return self._probs(self.aspect_rates)

    def _probs(self, rates: torch.Tensor) -> torch.Tensor:
        weights = rates + self.floor
        return weights / weights.sum()

    def typical_side(self, lo: float, hi: float) -> float:
        """The geometric-mean side under the current bin probabilities: fewer objects when large ones win."""
        centres = self.bin_edges.log()
        centres = (centres[1:] + centres[:-1]) / 2
        return math.exp(float((self.bin_probs * centres).sum()))

    @property
    def style_probs(self) -> torch.Tensor:
        """(num_styles,) sampling probability of each appearance style."""
        return self._probs(self.style_rates)

    def __call__(self, batch_size: int, img_size, num_classes: int) -> List[dict]:
        layout = super().__call__(batch_size, img_size, num_classes)
        if len(self.style_rates):
            for item, style in zip(layout, torch.multinomial(self.style_probs, batch_size, replacement=True)):
                item['style'] = style.view(1)
        return layout

    def sample_side(self, lo: float, hi: float) -> float:
        return self._sample_binned(self.bin_edges, self.bin_probs, float(torch.rand(())))

    def sample_aspect(self, u: float) -> float:
        return self._sample_binned(self.aspect_edges, self.aspect_probs, u)

    @staticmethod
    def _sample_binned(edges: torch.Tensor, probs: torch.Tensor, u: float) -> float:
        """A bin drawn by ``probs``, then log-uniform inside it at the uniform ``u``."""
        k = int(torch.multinomial(probs, 1))
        a, b = math.log(float(edges[k])), math.log(float(edges[k + 1]))
        return math.exp(a + u * (b - a))

    # -------------------------------------------------------------- observe
    def observe(self, layout: List[dict], results: list) -> None:
        """Update the per-size re-detection rates from the teacher's detections on a layout's images.

        Args:
            layout (list[dict]): ``N`` dicts with ``'bboxes'`` (k, 4) and ``'labels'`` (k,).
            results (list[DetDataSample]): the teacher's ``N`` predictions with
                ``pred_instances`` (``bboxes``, ``scores``, ``labels``) in the
                same pixel coordinates.
        """
        edges, aspect_edges = self.bin_edges, self.aspect_edges
        num_aspects = len(self.aspect_rates)
        hits, counts = torch.zeros(self.num_bins), torch.zeros(self.num_bins)
        aspect_hits, aspect_counts = torch.zeros(num_aspects), torch.zeros(num_aspects)
        style_hits = torch.zeros(len(self.style_rates))
        style_counts = torch.zeros(len(self.style_rates))
        for item, result in zip(layout, results):
            boxes = item['bboxes'].detach().float().cpu()
            if len(boxes) == 0:
                continue
            pred = result.pred_instances
            keep = pred.scores.detach().cpu() >= self.score_thr
            det_boxes, det_labels = pred.bboxes.detach().float().cpu()[keep], pred.labels.detach().cpu()[keep]
            found = torch.zeros(len(boxes), dtype=torch.bool)
            if len(det_boxes):
                same = item['labels'].cpu()[:, None] == det_labels[None]
                found = ((bbox_overlaps(boxes, det_boxes) >= self.iou_thr) & same).any(dim=1)
            widths, heights = (boxes[:, 2] - boxes[:, 0]).clamp(min=1e-6), (boxes[:, 3] - boxes[:, 1]).clamp(min=1e-6)
            for values, bin_edges, h, c in (((widths * heights).sqrt(), edges, hits, counts),
                                            (widths / heights, aspect_edges, aspect_hits, aspect_counts)):
                bins = (torch.bucketize(values, bin_edges) - 1).clamp(0, len(h) - 1)
                c += torch.bincount(bins, minlength=len(c)).float()
                h += torch.bincount(bins, weights=found.float(), minlength=len(h))
            if 'style' in item and len(self.style_rates):
                style = int(item['style'].view(-1)[0])
                style_counts[style] += 1
                style_hits[style] += found.float().mean()
        for rates, h, c in ((self.rates, hits, counts), (self.aspect_rates, aspect_hits, aspect_counts),
                            (self.style_rates, style_hits, style_counts)):
            seen = c > 0
            rates[seen] = self.momentum * rates[seen] + (1 - self.momentum) * (h[seen] / c[seen])
        self.num_observed += 1
        if self.log_interval and self.num_observed % self.log_interval == 0:
            print_log(f'TeacherLayoutSampler: {self.summary()}', logger='current')

    def summary(self) -> str:
        """One line: the side range and its source, the count, and per-bin re-detection rate / probability."""
        lo, hi = self.head_range
        edges = self.bin_edges.tolist()
        bins = ', '.join(f'{edges[k]:.0f}-{edges[k + 1]:.0f}px: {float(r):.2f}/{float(p):.2f}'
                         for k, (r, p) in enumerate(zip(self.rates, self.bin_probs)))
        count = self.max_objects or occupancy_max_objects(self.img_size, self.typical_side(lo, hi))
        text = (f'sides {lo:.0f}-{hi:.0f} px from {self.source}; {self.min_objects}-{count} objects per image; '
                f'after {self.num_observed} observed batches, re-detection rate / sampling probability per size '
                f'bin: {bins}')
        aspect_edges = self.aspect_edges.tolist()
        text += '; per aspect (w/h) bin: ' + ', '.join(
            f'{aspect_edges[k]:.2f}-{aspect_edges[k + 1]:.2f}: {float(r):.2f}/{float(p):.2f}'
            for k, (r, p) in enumerate(zip(self.aspect_rates, self.aspect_probs)))
        if len(self.style_rates):
            styles = ', '.join(f'{float(r):.2f}/{float(p):.2f}' for r, p in zip(self.style_rates, self.style_probs))
            text += f'; per appearance style: {styles}'
        return text
