"""Admission by time: the page clock's measure and the decision it drives, on a fake clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from mdso_sidecar import admission
from mdso_sidecar.admission import Admission, PageClock
from mdso_sidecar.errors import QueueFull
from mdso_sidecar.pipeline import JobControl


@dataclass
class FakeTime:
    now: float = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(admission, "time", fake)
    return fake


def test_prior_until_measured(clock_time: FakeTime) -> None:
    assert PageClock(2.0).page_s == pytest.approx(2.0)


def test_follows_the_measured_pace(clock_time: FakeTime) -> None:
    clock = PageClock(5.0)
    clock.became_busy()
    for _ in range(40):
        clock_time.now += 1.0
        clock.page_done()
    assert clock.page_s == pytest.approx(1.0, abs=0.3)


def test_idle_time_is_not_page_time(clock_time: FakeTime) -> None:
    clock = PageClock(1.0)
    clock.became_busy()
    clock_time.now += 1.0
    clock.page_done()
    clock_time.now += 3600  # an hour without requests
    clock.became_busy()
    clock_time.now += 1.0
    clock.page_done()
    assert clock.page_s == pytest.approx(1.0, abs=0.01)


def test_pages_reported_in_a_burst_average_right(clock_time: FakeTime) -> None:
    """A whole-document engine reports its 10 pages at once after 30 s: 3 s a page, not 0."""
    clock = PageClock(3.0)
    clock.became_busy()
    for _ in range(3):
        clock_time.now += 30.0
        for _ in range(10):
            clock.page_done()
    assert 2.0 <= clock.page_s <= 4.0


def _control(total: int, done: int) -> JobControl:
    control = JobControl("r")
    control.pages_total, control.pages_done = total, done
    return control


def _admission(limit: int = 100, page_s: float = 1.0) -> Admission:
    async def make() -> Admission:  # the semaphore wants a running loop on older Pythons
        return Admission(limit, limit, PageClock(page_s))

    return asyncio.run(make())


def test_admits_while_the_wait_fits(clock_time: FakeTime) -> None:
    gate = _admission()
    ahead = [_control(10, 2), _control(0, 0)]  # 8 pages left + one request not yet opened (1 page)
    assert gate.backlog(ahead).pages == pytest.approx(9.0)
    gate.admit(ahead, deadline=clock_time.now + 100)
    assert gate.accepted == 1


def test_refuses_what_would_not_finish_with_retry_after(clock_time: FakeTime) -> None:
    gate = _admission()
    ahead = [_control(10, 2)]
    with pytest.raises(QueueFull) as caught:
        gate.admit(ahead, deadline=clock_time.now + 5)
    # 8 pages ahead + its own first page at 1 s each: 9 s needed, 5 s left → retry in 4 s.
    assert caught.value.retry_after() == 4
    assert caught.value.details["expected_wait_s"] == pytest.approx(8.0)
    assert gate.accepted == 0


def test_no_deadline_means_only_the_hard_bound(clock_time: FakeTime) -> None:
    gate = _admission(limit=2)
    ahead = [_control(1000, 0)]
    gate.admit(ahead, deadline=None)
    gate.admit(ahead, deadline=None)
    with pytest.raises(QueueFull) as caught:
        gate.admit(ahead, deadline=None)
    assert caught.value.retry_after() == QueueFull.retry_after_s
