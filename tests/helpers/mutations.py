"""A hypothesis strategy for damaged files: a valid encoding with some bytes overwritten and
perhaps cut short, the way an upload arrives truncated or corrupted. The decoders under test
must turn each into their own documented error, never another exception."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st


def _mutate(seed: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """``seed`` with each ``(position, value)`` edit written (positions wrap around its
    length), then cut to ``cut`` bytes (wrapping too) when ``cut`` is given."""
    data = bytearray(seed)
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    return bytes(data)


def mutated_bytes(seeds: Sequence[bytes], reach: int, max_edits: int = 12) -> st.SearchStrategy:
    """Byte strings made from one of ``seeds`` by up to ``max_edits`` single-byte edits and an
    optional cut, positions drawn from ``[0, reach]`` (so a seed shorter than ``reach`` is hit
    anywhere, and shrinking moves edits toward its header)."""
    return st.builds(
        _mutate,
        st.sampled_from(list(seeds)),
        st.lists(st.tuples(st.integers(0, reach), st.integers(0, 255)), max_size=max_edits),
        st.one_of(st.none(), st.integers(0, reach)),
    )
