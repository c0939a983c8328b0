"""Strictly increasing timestamps for dump file names: readers order operators by them, so two
files written within the same microsecond must still get different, increasing stamps."""
import datetime
import time


class MicrosecondClock:
    """Microseconds since the epoch, at least one more than the previous stamp."""

    def __init__(self):
        self._last = 0

    def next_us(self):
        now = time.time_ns() // 1000
        self._last = max(now, self._last + 1)
        return self._last

    def next_utc20(self):
        """The stamp as torchair's FX dumper writes it: UTC `%Y%m%d%H%M%S%f` (20 digits)."""
        us = self.next_us()
        moment = datetime.datetime.fromtimestamp(us // 1_000_000, tz=datetime.timezone.utc)
        return moment.strftime("%Y%m%d%H%M%S") + f"{us % 1_000_000:06d}"


def local_dump_stamp():
    """`YYYYmmdd_HHMMSS` in local time, as get_ge_dump_config names `dump_{ts}` (FORMATS 9.1)."""
    return time.strftime("%Y%m%d_%H%M%S")


def local_time_dir():
    """GE's 14-digit `YYYYMMDDHHMMSS` folder."""
    return time.strftime("%Y%m%d%H%M%S")
