"""Faces linked across a video's sampled frames into tracks: one number per person on screen.

`Tracker.update` takes the boxes found in one sampled frame and gives each the number of the
track it continues, or a new number. The rule, greedy and cheap (a few faces per frame):

1. every track still alive (seen within ``max_gap_s`` seconds) predicts where its face is now:
   its last box moved by its last velocity (box centre per second, from its last two sightings),
   so two faces that cross keep moving the way they were going;
2. each (track, box) pair is scored by the IoU of the prediction and the box; a pair may link
   when the two sides differ by at most a factor ``max_scale`` and either that IoU is at least
   ``min_iou`` or the box centre lies within ``max_shift`` prediction sides of the predicted
   centre (a fast face, sparse sampling, a face briefly missed);
3. pairs are linked greedily, highest IoU first (ties: nearest centre), each track and box once;
   boxes left over start new tracks.

A track missed for more than ``max_gap_s`` seconds ends: the face, if it comes back, gets a new
number. Boxes are ``(x0, y0, x1, y1)`` in the frame's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Box = tuple[float, float, float, float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes ``(x0, y0, x1, y1)``; 0 for disjoint boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


@dataclass
class _Track:
    number: int
    box: Box
    time_s: float
    velocity: tuple[float, float] = (0.0, 0.0)  # centre pixels per second

    def predicted(self, time_s: float) -> Box:
        dt = time_s - self.time_s
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        x0, y0, x1, y1 = self.box
        return x0 + dx, y0 + dy, x1 + dx, y1 + dy


class Tracker:
    """Links the boxes of successive sampled frames into numbered tracks (rule: module docs)."""

    def __init__(
        self,
        max_gap_s: float = 1.0,
        min_iou: float = 0.3,
        max_shift: float = 1.0,
        max_scale: float = 1.5,
    ):
        if max_gap_s < 0:
            raise ValueError(f"max_gap_s must be >= 0, got {max_gap_s}")
        self.max_gap_s = max_gap_s
        self.min_iou = min_iou
        self.max_shift = max_shift
        self.max_scale = max_scale
        self._tracks: list[_Track] = []
        self._next = 1

    def update(self, time_s: float, boxes: Sequence[Box]) -> list[int]:
        """The track number of each of ``boxes``, found in the frame at ``time_s`` seconds
        (times must not decrease between calls)."""
        alive = [t for t in self._tracks if time_s - t.time_s <= self.max_gap_s + 1e-9]
        pairs = []
        for i, track in enumerate(alive):
            guess = track.predicted(time_s)
            side = max(guess[2] - guess[0], guess[3] - guess[1], 1e-6)
            gx, gy = _centre(guess)
            for j, box in enumerate(boxes):
                other = max(box[2] - box[0], box[3] - box[1], 1e-6)
                if max(other / side, side / other) > self.max_scale:
                    continue
                overlap = iou(guess, box)
                bx, by = _centre(box)
                distance = ((bx - gx) ** 2 + (by - gy) ** 2) ** 0.5 / side
                if overlap >= self.min_iou or distance <= self.max_shift:
                    pairs.append((-overlap, distance, i, j))
        numbers: list[int | None] = [None] * len(boxes)
        taken: set[int] = set()
        for _, _, i, j in sorted(pairs):
            if i in taken or numbers[j] is not None:
                continue
            taken.add(i)
            track = alive[i]
            dt = time_s - track.time_s
            if dt > 0:
                (ox, oy), (nx, ny) = _centre(track.box), _centre(boxes[j])
                track.velocity = ((nx - ox) / dt, (ny - oy) / dt)
            track.box, track.time_s = tuple(boxes[j]), time_s
            numbers[j] = track.number
        for j, box in enumerate(boxes):
            if numbers[j] is None:
                alive.append(_Track(self._next, tuple(box), time_s))
                numbers[j] = self._next
                self._next += 1
        self._tracks = alive
        return [n for n in numbers if n is not None]
