"""N-party audio mixing with a per-participant matrix of who hears whom, sans-I/O.

Every bridge that is more than a plain two-party relay is a `Mixer`: a conference, a
transfer consultation with hold audio, a recorder tapping a call, a supervisor spying.
Each participant has a key; `hears(listener, speaker)` says whether the listener gets the
speaker's audio. Nobody hears themselves. Once per 20 ms tick the caller hands in one frame
per participant (160 int16 samples, or None for nothing this tick) and gets back, for every
participant, the sum of the frames it hears — one matrix product for the whole bridge:

    out (N x 160) = H (N x N) @ in (N x 160)      H[i, j] = 1 when i hears j

Sums are done in 32-bit and saturated to 16 bits, so loud parties clip instead of
wrapping around (a wrap is a loud click; a clip is merely loud).

The supervisor modes of SPEC §4 are matrices over the roles agent / client / supervisor
(`SpyMode`, `apply_spy_mode`):

    listen   supervisor hears agent and client; nobody hears the supervisor
    whisper  supervisor hears both; only the agent hears the supervisor
    barge    everybody hears everybody

Exceptions: `KeyError` for an unknown participant, `ValueError` for a duplicate key or a
frame of the wrong size.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping

import numpy as np
import numpy.typing as npt

__all__ = ["FRAME", "Mixer", "SpyMode", "apply_spy_mode"]

FRAME = 160  # samples per 20 ms at 8 kHz
Frame = npt.NDArray[np.int16]


class SpyMode(enum.Enum):
    """What a supervisor does to an agent's call (SPEC §4: 4#, 5#, 6#)."""

    LISTEN = "4"
    WHISPER = "5"
    BARGE = "6"

    @classmethod
    def from_digit(cls, digit: str) -> SpyMode | None:
        """The mode a key selects while spying (4/5/6), None for any other key."""
        for mode in cls:
            if mode.value == digit:
                return mode
        return None


class Mixer:
    """Participants and who hears whom; `mix` turns one frame per participant into theirs."""

    __slots__ = ("_dirty", "_hears", "_index", "_keys", "_matrix", "_silence")

    def __init__(self) -> None:
        self._keys: list[Hashable] = []
        self._index: dict[Hashable, int] = {}
        self._hears: set[tuple[Hashable, Hashable]] = set()
        self._matrix: npt.NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
        self._silence: Frame = np.zeros(FRAME, dtype=np.int16)
        self._dirty = False

    # -- membership ----------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> tuple[Hashable, ...]:
        return tuple(self._keys)

    def add(self, key: Hashable, *, hears_all: bool = True, heard_by_all: bool = True) -> None:
        """A new participant; by default it hears everybody and everybody hears it."""
        if key in self._index:
            raise ValueError(f"participant {key!r} is already in the mixer")
        others = list(self._keys)
        self._index[key] = len(self._keys)
        self._keys.append(key)
        for other in others:
            if hears_all:
                self._hears.add((key, other))
            if heard_by_all:
                self._hears.add((other, key))
        self._dirty = True

    def remove(self, key: Hashable) -> None:
        """Take a participant out (unknown keys are ignored)."""
        if key not in self._index:
            return
        self._keys.remove(key)
        self._index = {k: i for i, k in enumerate(self._keys)}
        self._hears = {(a, b) for a, b in self._hears if a != key and b != key}
        self._dirty = True

    # -- the matrix ----------------------------------------------------------------------

    def set_hears(self, listener: Hashable, speaker: Hashable, on: bool = True) -> None:
        """Whether `listener` hears `speaker` (one direction only)."""
        if listener not in self._index:
            raise KeyError(listener)
        if speaker not in self._index:
            raise KeyError(speaker)
        if listener == speaker:
            return
        if on:
            self._hears.add((listener, speaker))
        else:
            self._hears.discard((listener, speaker))
        self._dirty = True

    def hears(self, listener: Hashable, speaker: Hashable) -> bool:
        return (listener, speaker) in self._hears

    def heard_by(self, speaker: Hashable) -> list[Hashable]:
        """Who hears `speaker`, in the order they joined."""
        return [k for k in self._keys if (k, speaker) in self._hears]

    def matrix(self) -> npt.NDArray[np.float32]:
        """H[i, j] = 1 when participant i hears participant j (order of `keys`)."""
        if self._dirty:
            n = len(self._keys)
            m = np.zeros((n, n), dtype=np.float32)
            for a, b in self._hears:
                m[self._index[a], self._index[b]] = 1.0
            self._matrix = m
            self._dirty = False
        return self._matrix

    # -- one tick ------------------------------------------------------------------------

    def mix(self, frames: Mapping[Hashable, Frame | None]) -> dict[Hashable, Frame]:
        """One output frame per participant from one input frame per participant.

        Missing keys and None count as silence; keys that are not participants are ignored.
        """
        n = len(self._keys)
        if n == 0:
            return {}
        stacked = np.zeros((n, FRAME), dtype=np.float32)
        for key, i in self._index.items():
            frame = frames.get(key)
            if frame is None:
                continue
            if frame.shape != (FRAME,):
                raise ValueError(f"frame of {key!r} has shape {frame.shape}, want ({FRAME},)")
            stacked[i] = frame
        # float32 sums of at most a few dozen int16 values are exact integers.
        mixed = self.matrix() @ stacked
        out = np.clip(mixed, -32768.0, 32767.0).astype(np.int16)
        return {key: out[i] for i, key in enumerate(self._keys)}


def apply_spy_mode(
    mixer: Mixer, mode: SpyMode, *, agent: Hashable, client: Hashable, supervisor: Hashable
) -> None:
    """Set the matrix of a spied call: agent and client always hear each other; the
    supervisor always hears both; who hears the supervisor depends on `mode`."""
    mixer.set_hears(agent, client, True)
    mixer.set_hears(client, agent, True)
    mixer.set_hears(supervisor, agent, True)
    mixer.set_hears(supervisor, client, True)
    mixer.set_hears(agent, supervisor, mode is not SpyMode.LISTEN)
    mixer.set_hears(client, supervisor, mode is SpyMode.BARGE)
