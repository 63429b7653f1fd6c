"""When settlements cut off."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_DAILY = re.compile(r"^daily@(\d{2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class DailySchedule:
    """Settlements cut off once a day at a UTC time (`daily@HH:MM`)."""

    hour: int
    minute: int

    @classmethod
    def parse(cls, text: str) -> DailySchedule | None:
        """The schedule, or None for `off`."""
        if text == "off":
            return None
        match = _DAILY.match(text)
        if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise ValueError(f"settlement schedule {text!r}: use 'daily@HH:MM' (UTC) or 'off'")
        return cls(int(match.group(1)), int(match.group(2)))

    def last_cutoff(self, now: datetime) -> datetime:
        today = now.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        return today if now >= today else today - timedelta(days=1)
