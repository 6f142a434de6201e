"""Times for people: stored timestamps are UTC (store.db.iso); staff read them in
`[platform] timezone`. One helper so the web console and `cases list` agree."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=8)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local(value: str | datetime | None, tz: str = "UTC", *, seconds: bool = False) -> str:
    """'2026-11-02 15:00 WIB' for a stored UTC timestamp; '' for None; unparsable text as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        dt = value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    out = dt.astimezone(zone(tz))
    return out.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")
