"""Campaign schedules with a fixed clock (every `now` is a fixed datetime; nothing sleeps): each frequency,
EndTime, local time across zones and DST transitions, and quiet time in the endpoint's zone."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.campaigns.schedule import (
    TIMEZONES,
    effective_quiet_time,
    endpoint_zone,
    first_start,
    in_quiet_time,
    local_delivery,
    next_run,
    run_at,
    runs,
)
from gateway.models import QuietTime, Schedule

UTC = dt.UTC
CREATED = dt.datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def starts(schedule: Schedule, since: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    return [r.start for r in runs(schedule, CREATED, since, until)]


def test_pinpoint_s_timezone_list() -> None:
    assert len(TIMEZONES) == 31 and TIMEZONES["UTC+05:45"].utcoffset(None) == dt.timedelta(hours=5, minutes=45)
    assert TIMEZONES["UTC-11"].utcoffset(None) == dt.timedelta(hours=-11) and "UTC+14" not in TIMEZONES


def test_once_immediate_and_at_a_time() -> None:
    now = at(2026, 1, 10, 8, 0)
    immediate = Schedule(StartTime="IMMEDIATE")
    assert first_start(immediate, CREATED) == CREATED
    assert next_run(immediate, CREATED, now) == run_at(immediate, CREATED, 0)
    assert next_run(immediate, CREATED, now + dt.timedelta(seconds=1)) is None  # its one run has started
    later = Schedule(StartTime="2026-01-12T09:30:00+02:00", Frequency="ONCE")
    run = next_run(later, CREATED, now)
    assert run is not None and run.start == at(2026, 1, 12, 7, 30) and run.last == run.start
    assert run_at(later, CREATED, 1) is None


def test_hourly_daily_weekly_and_end_time_exclusive() -> None:
    hourly = Schedule(StartTime="2026-01-10T09:00:00Z", EndTime="2026-01-10T12:00:00Z", Frequency="HOURLY")
    assert starts(hourly, CREATED, at(2027, 1, 1)) == [at(2026, 1, 10, h) for h in (9, 10, 11)]
    daily = Schedule(StartTime="2026-01-10T09:00:00", Timezone="UTC-05", Frequency="DAILY")  # 14:00 UTC
    assert starts(daily, at(2026, 1, 11, 14, 0), at(2026, 1, 13, 14, 0)) == [at(2026, 1, 11, 14), at(2026, 1, 12, 14)]
    weekly = Schedule(StartTime="2026-01-10T09:00:00Z", Frequency="WEEKLY", EndTime="2026-02-01T00:00:00Z")
    assert starts(weekly, CREATED, at(2027, 1, 1)) == [at(2026, 1, d, 9) for d in (10, 17, 24, 31)]


def test_next_run_far_into_a_long_campaign_is_arithmetic() -> None:
    hourly = Schedule(StartTime="2026-01-10T09:00:00Z", Frequency="HOURLY")
    run = next_run(hourly, CREATED, at(2036, 5, 1, 10, 30))  # ten years of hours: found without walking them
    assert run is not None and run.start == at(2036, 5, 1, 11) and run.number == 90338
    assert next_run(hourly, CREATED, at(2036, 5, 1, 11)) == run  # a run starting exactly now is due now


def test_monthly_keeps_the_start_day_and_clamps_short_months() -> None:
    monthly = Schedule(StartTime="2026-01-31T10:00:00Z", Frequency="MONTHLY")
    got = starts(monthly, CREATED, at(2026, 6, 1))
    assert got == [at(2026, 1, 31, 10), at(2026, 2, 28, 10), at(2026, 3, 31, 10), at(2026, 4, 30, 10), at(2026, 5, 31, 10)]
    run = next_run(monthly, CREATED, at(2028, 2, 15))
    assert run is not None and run.start == at(2028, 2, 29, 10)  # a leap year's February


def test_event_campaigns_have_no_scheduled_runs() -> None:
    assert next_run(Schedule(StartTime="IMMEDIATE", Frequency="EVENT"), CREATED, CREATED) is None


def test_an_in_app_campaign_has_one_run_at_its_start_that_stores_its_message() -> None:
    schedule = Schedule(StartTime="2026-01-11T09:00:00Z", EndTime="2026-02-01T00:00:00Z", Frequency="IN_APP_EVENT")
    run = next_run(schedule, CREATED, CREATED)
    assert run is not None and (run.number, run.start) == (0, at(2026, 1, 11, 9))
    assert run_at(schedule, CREATED, 1) is None
    assert next_run(schedule, CREATED, at(2026, 1, 11, 10)) is None  # started: no other run


def test_local_time_delivers_at_the_same_wall_time_in_each_zone() -> None:
    # 09:00 local, starting at UTC+13 (the run starts when 09:00 first happens there)
    s = Schedule(StartTime="2026-01-20T09:00:00", Timezone="UTC+13", IsLocalTime=True, Frequency="ONCE")
    run = run_at(s, CREATED, 0)
    assert run is not None and run.start == at(2026, 1, 19, 20) and run.last == at(2026, 1, 20, 21)
    cases = {
        "Asia/Tokyo": at(2026, 1, 20, 0),          # UTC+9
        "Asia/Kolkata": at(2026, 1, 20, 3, 30),    # UTC+5:30
        "Asia/Kathmandu": at(2026, 1, 20, 3, 15),  # UTC+5:45
        "Europe/London": at(2026, 1, 20, 9),
        "America/New_York": at(2026, 1, 20, 14),   # EST
        "Pacific/Pago_Pago": at(2026, 1, 20, 20),  # UTC-11
    }
    for zone, expected in cases.items():
        d = local_delivery(s, run, zone)
        assert (d.at, d.zone_missing, d.late) == (expected, False, False), zone
    # UTC+14 is east of the starting offset: its 09:00 is before the run starts, so it gets it at the start
    kiribati = local_delivery(s, run, "Pacific/Kiritimati")
    assert (kiribati.at, kiribati.late) == (run.start, True)
    # no (or no valid) Demographic.Timezone: no local time, so no delivery (run metric ENDPOINT_MISSING_TIMEZONE)
    for missing in (None, "", "Mars/Olympus", "../etc/passwd"):
        d = local_delivery(s, run, missing)
        assert (d.at, d.zone_missing) == (None, True), missing
    # not local time: everyone at the run's start
    plain = Schedule(StartTime="2026-01-20T09:00:00Z")
    plain_run = run_at(plain, CREATED, 0)
    assert plain_run is not None and local_delivery(plain, plain_run, "Asia/Tokyo").at == at(2026, 1, 20, 9)
    assert local_delivery(plain, plain_run, None) == (at(2026, 1, 20, 9), False, False)


def test_daily_local_time_keeps_the_wall_time_across_dst() -> None:
    # starting at UTC+13, so every zone west of it gets 09:00 of its own
    s = Schedule(StartTime="2026-03-07T09:00:00", Timezone="UTC+13", IsLocalTime=True, Frequency="DAILY")
    ny = [local_delivery(s, r, "America/New_York").at for r in runs(s, CREATED, at(2026, 3, 6), at(2026, 3, 9))]
    # 09:00 EST is 14:00 UTC; after the switch on March 8, 09:00 EDT is 13:00 UTC
    assert ny == [at(2026, 3, 7, 14), at(2026, 3, 8, 13), at(2026, 3, 9, 13)]
    # southern hemisphere, the other way: Sydney leaves DST on April 5, 2026 (09:00 AEDT 22:00 UTC, AEST 23:00)
    s2 = Schedule(StartTime="2026-04-04T09:00:00", Timezone="UTC+13", IsLocalTime=True, Frequency="DAILY")
    syd = [local_delivery(s2, r, "Australia/Sydney").at for r in runs(s2, CREATED, at(2026, 4, 3), at(2026, 4, 6))]
    assert syd == [at(2026, 4, 3, 22), at(2026, 4, 4, 23), at(2026, 4, 5, 23)]


def test_wall_times_a_dst_change_skips_or_repeats() -> None:
    # 02:30 does not exist in New York on 2026-03-08: delivered at 07:30 UTC (03:30 EDT), once
    gap = Schedule(StartTime="2026-03-08T02:30:00", Timezone="UTC+13", IsLocalTime=True)
    run = run_at(gap, CREATED, 0)
    assert run is not None and local_delivery(gap, run, "America/New_York").at == at(2026, 3, 8, 7, 30)
    # 01:30 happens twice on 2026-11-01: delivered once, at the first (EDT, 05:30 UTC)
    twice = Schedule(StartTime="2026-11-01T01:30:00", Timezone="UTC+13", IsLocalTime=True)
    run = run_at(twice, CREATED, 0)
    assert run is not None and local_delivery(twice, run, "America/New_York").at == at(2026, 11, 1, 5, 30)


def test_quiet_time_in_the_endpoint_s_zone() -> None:
    night = QuietTime(Start="22:00", End="07:00")
    # 03:00 UTC is 22:00 in New York (EST): quiet, Start inclusive; 12:00 UTC is 07:00 there: End inclusive
    assert in_quiet_time(night, "America/New_York", at(2026, 1, 20, 3, 0))
    assert in_quiet_time(night, "America/New_York", at(2026, 1, 20, 12, 0, 59))  # 07:00 to the minute
    assert not in_quiet_time(night, "America/New_York", at(2026, 1, 20, 12, 1))
    assert not in_quiet_time(night, "America/New_York", at(2026, 1, 20, 2, 59))  # 21:59
    assert in_quiet_time(night, "Asia/Tokyo", at(2026, 1, 20, 15))  # midnight in Tokyo
    # no valid zone: never quiet (Pinpoint sends "even if quiet time is enabled")
    assert not in_quiet_time(night, None, at(2026, 1, 20, 3))
    assert not in_quiet_time(night, "Nowhere/Else", at(2026, 1, 20, 3))
    day = QuietTime(Start="09:00", End="17:00")
    assert in_quiet_time(day, "Europe/Paris", at(2026, 7, 1, 7))       # 09:00 CEST
    assert not in_quiet_time(day, "Europe/Paris", at(2026, 1, 1, 7))   # 08:00 CET
    assert not in_quiet_time(None, "Europe/Paris", at(2026, 7, 1, 7))


def test_quiet_time_across_dst_in_the_endpoint_s_zone() -> None:
    quiet = QuietTime(Start="01:00", End="01:59")
    # New York, 2026-11-01: 01:xx happens twice (05:xx UTC as EDT, 06:xx UTC as EST): both are quiet
    assert in_quiet_time(quiet, "America/New_York", at(2026, 11, 1, 5, 30))
    assert in_quiet_time(quiet, "America/New_York", at(2026, 11, 1, 6, 30))
    assert not in_quiet_time(quiet, "America/New_York", at(2026, 11, 1, 7, 30))
    # 2026-03-08: 02:xx never happens; 06:30 UTC is 01:30 EST (quiet), 07:30 UTC is 03:30 EDT (not)
    spring = QuietTime(Start="01:00", End="02:59")
    assert in_quiet_time(spring, "America/New_York", at(2026, 3, 8, 6, 30))
    assert not in_quiet_time(spring, "America/New_York", at(2026, 3, 8, 7, 30))


def test_effective_quiet_time_and_zone_cache() -> None:
    app, own = QuietTime(Start="21:00", End="08:00"), QuietTime(Start="23:00", End="06:00")
    assert effective_quiet_time(own, app) is own
    assert effective_quiet_time(None, app) is app and effective_quiet_time(QuietTime(), app) is app
    assert effective_quiet_time(None, None) is None
    assert endpoint_zone("Europe/Paris") is endpoint_zone("Europe/Paris")


@pytest.mark.parametrize("bad", ["2026-13-01T00:00:00Z", "tomorrow"])
def test_bad_start_times_raise(bad: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        first_start(Schedule(StartTime=bad), CREATED)
