"""Emotion-clip frames per output frame without storing one image per output frame.

A clip of N aligned frames drives T output frames (ping-pong extended, T may be 90000 for an hour
of speech: 17 GB as [T,256,256,3] uint8). :class:`IndexedFrames` keeps the N frames and a [T]
index; :class:`AugmentedFrames` makes the seeded test-time augmentation of any output frame on
demand, drawing the very same random numbers as doing them all in order
(:func:`eamm_core.prepare.emotion.augment_clip`): the generator's state is remembered every
:data:`CHECKPOINT` frames, so in-order reads cost one augmentation each and an earlier frame at most
:data:`CHECKPOINT` cheap skips. Both index like a [T,256,256,3] uint8 array (int, slice, index
array, tuple) and ``np.asarray`` gives the full array.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from eamm_core.cancel import check_cancelled

#: augmentation generator states remembered every this many output frames
CHECKPOINT = 64


class _LazyFrames(ABC):
    """Shared array-like behaviour: ``frame(i)`` gives one [H,W,C] uint8 frame."""

    base: np.ndarray
    length: int

    @abstractmethod
    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as [H,W,C] uint8."""

    def frames(self, idx: np.ndarray) -> np.ndarray:
        return np.stack([self.frame(int(i)) for i in idx]) if len(idx) else np.zeros((0, *self.base.shape[1:]), np.uint8)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.length, *self.base.shape[1:])

    @property
    def dtype(self):
        return self.base.dtype

    @property
    def ndim(self) -> int:
        return self.base.ndim

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self.length if key < 0 else 0)
            if not 0 <= i < self.length:
                raise IndexError(f"frame {key} out of range for {self.length} frames")
            out = self.frame(i)
        else:
            out = self.frames(np.arange(self.length)[key])
            rest = (slice(None), *rest)
        return out[rest] if rest else out

    def __array__(self, dtype=None, copy=None):
        out = self.frames(np.arange(self.length))
        return out if dtype is None else out.astype(dtype)

    def __iter__(self):
        return (self.frame(i) for i in range(self.length))


class IndexedFrames(_LazyFrames):
    """Output frame t shows ``base[index[t]]``."""

    def __init__(self, base: np.ndarray, index: np.ndarray):
        self.base, self.index = base, np.asarray(index, np.int64)
        self.length = len(self.index)

    def frame(self, i: int) -> np.ndarray:
        return self.base[self.index[i]]


class AugmentedFrames(_LazyFrames):
    """The seeded augmentation of ``IndexedFrames(base, index)``: ``draw(rng)`` draws one frame's
    random parameters, ``apply(img, params, flip)`` makes the frame; ``picked`` and ``flip`` are the
    clip-wide draws made first from ``rng``."""

    def __init__(self, base: np.ndarray, index: np.ndarray, picked: np.ndarray, flip: bool,
                 rng: np.random.Generator, draw: Callable, apply: Callable):
        self.base, self.index, self.picked, self.flip = base, np.asarray(index, np.int64), picked, flip
        self.length = len(self.index)
        self._rng, self._draw, self._apply = rng, draw, apply
        self._next = 0  # the frame whose parameters rng draws next
        self._states = {0: rng.bit_generator.state}

    def frame(self, i: int) -> np.ndarray:
        if i < self._next:
            start = (i // CHECKPOINT) * CHECKPOINT
            self._rng.bit_generator.state = self._states[start]
            self._next = start
        while self._next < i:
            if self._next % CHECKPOINT == 0:
                check_cancelled()
            self._draw(self._rng)
            self._advance()
        params = self._draw(self._rng)
        self._advance()
        return self._apply(self.base[self.index[self.picked[i]]], params, self.flip)

    def _advance(self) -> None:
        self._next += 1
        if self._next % CHECKPOINT == 0:
            self._states.setdefault(self._next, self._rng.bit_generator.state)
