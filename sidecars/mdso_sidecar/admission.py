"""Admission control by time: a complete upload is accepted while it can still be read before its
deadline. The expected wait is the pages queued ahead (left to read in the requests already admitted)
times the seconds a page takes this sidecar, measured while it works. A request that would not finish
in time is refused at once (503 QueueFull, Retry-After: when enough of the queue will have drained),
instead of waiting its whole TIMEOUT for a 504. Waiting requests are files in the spool directory,
not memory; `limit` (SIDECAR_MAX_QUEUE) is only the hard bound on how many are held at once.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from .errors import QueueFull
from .pipeline import JobControl

DISCONNECT_POLL_S = 0.2
_PRIOR_WEIGHT = 3.0
"""The engine's prior counts as this many measured pages (or requests): it fades within a few."""
_DECAY = 0.95
"""Each new measure keeps this share of the history: the estimate follows about the last 20 pages."""
_MAX_RETRY_AFTER_S = 3600


class PageClock:
    """Seconds a page takes this sidecar, as it serves: busy time divided by pages finished, with
    exponentially fading history. Busy time is measured between page completions (or from the moment
    an idle sidecar got work), so with N reader threads a page counts about 1/N of its own duration,
    and a whole-document engine that reports its pages in a burst still averages right. Thread-safe:
    pages finish on the pipeline's worker threads."""

    def __init__(self, prior_page_s: float) -> None:
        self._lock = threading.Lock()
        self._time = prior_page_s * _PRIOR_WEIGHT
        self._pages = _PRIOR_WEIGHT
        self._request_pages = _PRIOR_WEIGHT  # pages per request, prior 1
        self._requests = _PRIOR_WEIGHT
        self._last: float | None = None
        self._busy_since = time.monotonic()
        self.measured_pages = 0

    def became_busy(self) -> None:
        """The sidecar had nothing to do and now has: idle time is not page time."""
        with self._lock:
            self._busy_since = time.monotonic()

    def page_done(self) -> None:
        now = time.monotonic()
        with self._lock:
            start = self._busy_since if self._last is None else max(self._last, self._busy_since)
            self._last = now
            self._time = self._time * _DECAY + max(now - start, 0.0)
            self._pages = self._pages * _DECAY + 1.0
            self.measured_pages += 1

    def request_done(self, pages: int) -> None:
        with self._lock:
            self._request_pages = self._request_pages * _DECAY + max(pages, 1)
            self._requests = self._requests * _DECAY + 1.0

    @property
    def page_s(self) -> float:
        with self._lock:
            return self._time / self._pages

    @property
    def pages_per_request(self) -> float:
        with self._lock:
            return self._request_pages / self._requests


@dataclass(frozen=True)
class Backlog:
    """What waits ahead of a new request, and how long it should take."""

    pages: float
    page_s: float

    @property
    def wait_s(self) -> float:
        return self.pages * self.page_s


class Admission:
    """Bounded intake. A complete upload is admitted while its expected wait leaves time to read it
    before its deadline, and while fewer than `limit` requests are held; otherwise an immediate 503.
    Of those admitted, at most `slots` run at once: every one for page engines (the page scheduler
    shares the threads round-robin, so a small request is not stuck behind big ones), one per worker
    thread for whole-document engines.
    """

    def __init__(self, limit: int, slots: int, clock: PageClock) -> None:
        self.limit = limit
        self.accepted = 0
        self.active = 0
        self.clock = clock
        self._slots = asyncio.Semaphore(slots)

    def backlog(self, in_flight: Iterable[JobControl]) -> Backlog:
        """Pages left to read in the admitted requests (those not yet opened count as an average
        request) and the measured seconds a page."""
        per_request = self.clock.pages_per_request
        pages = 0.0
        for control in in_flight:
            if control.pages_total > 0:
                pages += max(control.pages_total - control.pages_done, 0)
            else:
                pages += per_request
        return Backlog(pages=pages, page_s=self.clock.page_s)

    def admit(self, in_flight: Iterable[JobControl], deadline: float | None) -> None:
        if self.accepted >= self.limit:
            raise QueueFull(
                f"the {self.limit} request slots of this service are taken (SIDECAR_MAX_QUEUE); "
                "retry in a few seconds",
                {"limit": self.limit},
            )
        if deadline is not None:
            backlog = self.backlog(in_flight)
            # Its own first page at least must fit after the pages ahead.
            needed = backlog.wait_s + backlog.page_s
            remaining = deadline - time.time()
            if needed > remaining:
                retry = min(max(math.ceil(needed - max(remaining, 0.0)), 1), _MAX_RETRY_AFTER_S)
                raise QueueFull(
                    f"this service is busy: about {backlog.wait_s:.0f} s of pages are queued ahead, "
                    f"more than the {max(remaining, 0.0):.0f} s left before the timeout; "
                    f"retry in about {retry} s",
                    {
                        "expected_wait_s": round(backlog.wait_s, 1),
                        "pages_queued": round(backlog.pages, 1),
                        "page_s": round(backlog.page_s, 3),
                        "remaining_s": round(max(remaining, 0.0), 1),
                    },
                    retry_after_s=retry,
                )
        self.accepted += 1

    def leave(self) -> None:
        self.accepted -= 1

    @property
    def waiting(self) -> int:
        return self.accepted - self.active

    @asynccontextmanager
    async def run_slot(self, control: JobControl) -> AsyncIterator[None]:
        # Waiting is abandoned as soon as the client leaves or the deadline passes.
        while True:
            control.raise_if_stopped()
            try:
                await asyncio.wait_for(self._slots.acquire(), timeout=DISCONNECT_POLL_S)
                break
            except TimeoutError:
                continue
        if self.active == 0:
            self.clock.became_busy()
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._slots.release()
