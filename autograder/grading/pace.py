"""How fast a batch goes: done / total, submissions per minute and the time left.

    pace = Pace(total=len(tasks))
    ... for each result: say(f"  {student}: ... {pace.one_more()}")
    # "[12/300, 4.1 per minute, about 1 h 10 min left]"
"""
from __future__ import annotations

import time


class Pace:
    """The submissions graded in this run so far, against the number it grades."""

    def __init__(self, total: int, clock=time.monotonic):
        self.total, self.done, self._clock = total, 0, clock
        self._started = clock()

    def one_more(self) -> str:
        """Count a graded submission; the pace so far, in brackets."""
        self.done += 1
        minutes = max(self._clock() - self._started, 1e-9) / 60
        rate = self.done / minutes
        left = (self.total - self.done) / rate
        return f"[{self.done}/{self.total}, {rate:.1f} per minute, about {_duration(left)} left]"


def _duration(minutes: float) -> str:
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest} min" if hours else f"{rest} min"
