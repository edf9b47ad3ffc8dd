"""SyntheticMemory.state_dict / load_state_dict: what AtomicCheckpointHook saves for exact resume."""
import io

import pytest
import torch

from mmdfkd.models.memory import SyntheticMemory


def _layout(num_boxes: int) -> dict:
    return dict(bboxes=torch.rand(num_boxes, 4) * 32, labels=torch.randint(10, (num_boxes, )))


def _round_trip(state: dict) -> dict:
    """Through torch.save / torch.load(weights_only=True), as a checkpoint goes."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_wrapped_memory_with_layouts_restores_exactly_and_samples_the_same():
    torch.manual_seed(0)
    memory = SyntheticMemory(5)
    memory.push(torch.rand(3, 3, 8, 8) * 255, [_layout(k) for k in (0, 2, 1)])  # an image without boxes
    memory.push(torch.rand(4, 3, 8, 8) * 255, [_layout(k) for k in (3, 1, 2, 1)])  # wraps: next slot 2
    state = _round_trip(memory.state_dict())
    assert (state['capacity'], state['size'], state['next']) == (5, 5, 2)
    assert state['images'].dtype == torch.uint8 and state['images'].shape == (5, 3, 8, 8)

    restored = SyntheticMemory(5)
    restored.load_state_dict(state)
    assert len(restored) == 5 and restored._next == 2 and torch.equal(restored._images, memory._images)
    for a, b in zip(memory._layouts, restored._layouts):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # The same draws from the same RNG state; and the next push lands in the same slots.
    for mem in (memory, restored):
        torch.manual_seed(1)
        mem.push(torch.full((1, 3, 8, 8), 7.0), [_layout(1)])
    torch.manual_seed(2)
    pixels_a, layouts_a = memory.sample(6, torch.device('cpu'))
    torch.manual_seed(2)
    pixels_b, layouts_b = restored.sample(6, torch.device('cpu'))
    assert torch.equal(pixels_a, pixels_b)
    assert all(torch.equal(a[k], b[k]) for a, b in zip(layouts_a, layouts_b) for k in a)


def test_memory_without_layouts_and_empty_memory_round_trip():
    memory = SyntheticMemory(4)
    empty = SyntheticMemory(4)
    empty.load_state_dict(_round_trip(memory.state_dict()))
    assert len(empty) == 0
    memory.push(torch.rand(2, 3, 4, 4) * 255)
    state = _round_trip(memory.state_dict())
    assert state['layouts'] is None
    restored = SyntheticMemory(4)
    restored.load_state_dict(state)
    assert len(restored) == 2 and restored._layouts[:2] == [None, None]
    assert torch.equal(restored._images[:2], memory._images[:2])


def test_other_capacity_is_refused_with_the_fix():
    memory = SyntheticMemory(4)
    memory.push(torch.rand(2, 3, 4, 4) * 255)
    with pytest.raises(ValueError, match='memory of 4 images .* memory_capacity=8; resume with the same'):
        SyntheticMemory(8).load_state_dict(memory.state_dict())
