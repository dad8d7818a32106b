"""gateway.kafka.backup's pure parts: how long the oldest spooled record has waited for Kafka."""

from __future__ import annotations

import pytest

from gateway.kafka.backup import MAX_AGE_ENTRIES, PendingAges

MS = 1_000_000


def test_nothing_pending_is_no_age() -> None:
    ages = PendingAges(first_own_seq=1, opened_ns=0)
    ages.appended(5, 10 * MS)
    assert ages.oldest_age_ns(acked_seq=0, pending_records=0, now_ns=99 * MS) == 0


def test_the_oldest_unacknowledged_commit_gives_the_age() -> None:
    ages = PendingAges(first_own_seq=1, opened_ns=0)
    ages.appended(5, 10 * MS)  # seqs 1-5
    ages.appended(9, 20 * MS)  # seqs 6-9
    assert ages.oldest_age_ns(0, 9, 50 * MS) == 40 * MS
    ages.acknowledged(5)
    assert ages.oldest_age_ns(5, 4, 50 * MS) == 30 * MS
    ages.acknowledged(7)  # part of the second commit: it still waits, from its own time
    assert ages.oldest_age_ns(7, 2, 50 * MS) == 30 * MS
    ages.acknowledged(9)
    assert ages.oldest_age_ns(9, 0, 50 * MS) == 0


def test_records_an_earlier_run_left_count_from_when_the_spool_was_opened() -> None:
    ages = PendingAges(first_own_seq=101, opened_ns=5 * MS)
    ages.appended(110, 30 * MS)
    assert ages.oldest_age_ns(acked_seq=40, pending_records=70, now_ns=60 * MS) == 55 * MS
    ages.acknowledged(100)
    assert ages.oldest_age_ns(acked_seq=100, pending_records=10, now_ns=60 * MS) == 30 * MS


@pytest.mark.parametrize("commits", [MAX_AGE_ENTRIES + 1, 3 * MAX_AGE_ENTRIES])
def test_many_commits_are_merged_never_understating_the_age(commits: int) -> None:
    ages = PendingAges(first_own_seq=1, opened_ns=0)
    for n in range(1, commits + 1):
        ages.appended(n, n * MS)
        assert len(ages) <= MAX_AGE_ENTRIES + 1
    now = (commits + 10) * MS
    assert ages.oldest_age_ns(0, commits, now) == now - 1 * MS
    for acked in (commits // 3, commits // 2, commits - 1):
        ages.acknowledged(acked)
        exact = now - (acked + 1) * MS
        assert ages.oldest_age_ns(acked, commits - acked, now) >= exact
