"""Loss weights that change with the update number, in XLM's syntax.

`'1'` is a constant; `'0:1,100000:0.1,300000:0'` is piecewise linear through the points
(update, weight): 1 at update 0, 0.1 at 100,000, 0 from 300,000 on, and the first weight before
the first point. The value is a pure function of the update number, so a resumed run (which
stores the text in its config) follows the same schedule.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True)
class WeightSchedule:
    points: tuple[tuple[int, float], ...]

    @classmethod
    def parse(cls, text: str, flag: str = "--lambda") -> WeightSchedule:
        """Parse '0.5' or 'U:W,U:W,...' (updates strictly increasing); ValueError names the flag and the text."""
        text = text.strip()
        bad = f"{flag} {text!r} is not a weight or a schedule 'UPDATE:WEIGHT,UPDATE:WEIGHT,...'"
        if ":" not in text:
            try:
                return cls(((0, _weight(text, flag)),))
            except ValueError:
                raise ValueError(bad) from None
        points = []
        for item in text.split(","):
            update, sep, weight = item.partition(":")
            try:
                points.append((int(update), _weight(weight, flag)))
            except ValueError as error:
                raise ValueError(str(error) if "weight" in str(error) and sep else bad) from None
        updates = [u for u, _ in points]
        if updates[0] < 0 or any(b <= a for a, b in zip(updates, updates[1:], strict=False)):
            raise ValueError(f"{flag} {text!r}: the updates must be >= 0 and strictly increasing")
        return cls(tuple(points))

    def __call__(self, update: int) -> float:
        updates = [u for u, _ in self.points]
        i = bisect_right(updates, update)
        if i == 0:
            return self.points[0][1]
        if i == len(self.points):
            return self.points[-1][1]
        (u0, w0), (u1, w1) = self.points[i - 1], self.points[i]
        return w0 + (w1 - w0) * (update - u0) / (u1 - u0)

    @property
    def always_zero(self) -> bool:
        return all(weight == 0 for _, weight in self.points)


def _weight(text: str, flag: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{flag}: the weight {text.strip()!r} must be a finite number >= 0")
    return value
