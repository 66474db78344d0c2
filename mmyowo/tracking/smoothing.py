"""Per-track temporal smoothing of class scores, so labels do not flicker.

A track's class scores are averaged over its own recent frames: an
exponential moving average (``method='ema'``, weight ``alpha`` on the new
frame) or the mean of the last ``window`` frames (``method='window'``).
Each track starts from its first frame's scores, so a new person is not
damped towards zero.
"""
from collections import deque
from typing import Deque, Dict

import numpy as np

SMOOTHING_METHODS = ('ema', 'window', 'none')


class ScoreSmoother:
    """Smooth ``(C,)`` score vectors per track id.

    Args:
        method (str): ``'ema'``, ``'window'`` or ``'none'``.
        alpha (float): EMA weight of the newest frame, in ``(0, 1]``.
        window (int): Frames averaged by ``'window'``, ``>= 1``.
    """

    def __init__(self,
                 method: str = 'ema',
                 alpha: float = 0.5,
                 window: int = 5) -> None:
        if method not in SMOOTHING_METHODS:
            raise ValueError(f'smoothing method must be one of '
                             f'{SMOOTHING_METHODS}, got {method!r}')
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f'smoothing alpha must be in (0, 1], got '
                             f'{alpha!r}')
        if int(window) != window or window < 1:
            raise ValueError(f'smoothing window must be an integer >= 1, got '
                             f'{window!r}')
        self.method = method
        self.alpha = float(alpha)
        self.window = int(window)
        self._ema: Dict[int, np.ndarray] = {}
        self._history: Dict[int, Deque[np.ndarray]] = {}

    def update(self, track_id: int, scores: np.ndarray) -> np.ndarray:
        """Add a track's scores of the current frame; return its smoothed
        scores (a new array)."""
        scores = np.asarray(scores, dtype=np.float64)
        if self.method == 'none':
            return scores.copy()
        if self.method == 'ema':
            previous = self._ema.get(track_id)
            value = scores.copy() if previous is None else (
                self.alpha * scores + (1.0 - self.alpha) * previous)
            self._ema[track_id] = value
            return value.copy()
        history = self._history.setdefault(track_id, deque(maxlen=self.window))
        history.append(scores)
        return np.mean(np.stack(history), axis=0)

    def forget(self, track_id: int) -> None:
        """Drop a finished track's state (bounded memory on long streams)."""
        self._ema.pop(track_id, None)
        self._history.pop(track_id, None)
