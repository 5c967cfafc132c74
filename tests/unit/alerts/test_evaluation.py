"""The alert state machine, driven tick by tick with an explicit clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.alerts.domain.conditions import Operator, compare
from services.alerts.domain.evaluation import (
    AlertState,
    AlertStatus,
    Marks,
    Notify,
    Observation,
    Policy,
    Transitioned,
    Verdict,
    step,
)
from services.alerts.domain.matching import DEFAULT_INHIBIT_RULES, inhibited

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def breach(value: float = 10.0) -> Observation:
    return Observation(Verdict.BREACH, value)


def clear(value: float = 1.0) -> Observation:
    return Observation(Verdict.CLEAR, value)


def notifications(events: list[Transitioned | Notify]) -> list[str]:
    return [f"{e.status}{' (repeat)' if e.repeat else ''}" for e in events if isinstance(e, Notify)]


class Run:
    """Feeds observations in order and keeps every notification, like the service does."""

    def __init__(self, policy: Policy = Policy()) -> None:
        self.policy = policy
        self.status = AlertStatus()
        self.sent: list[str] = []
        self.history: list[tuple[AlertState, AlertState]] = []

    def feed(self, obs: Observation, seconds: float, marks: Marks = Marks()) -> AlertState:
        self.status, events = step(self.status, obs, self.policy, at(seconds), marks)
        self.sent += notifications(events)
        self.history += [(e.from_state, e.to_state) for e in events if isinstance(e, Transitioned)]
        return self.status.state

    def tick(self, seconds: float, marks: Marks = Marks()) -> AlertState:
        return self.feed(Observation.tick(), seconds, marks)


class TestFor:
    def test_pending_until_for_elapses_then_fires_on_a_tick(self) -> None:
        run = Run(Policy(for_=timedelta(minutes=5)))
        assert run.feed(breach(), 0) is AlertState.PENDING
        assert run.tick(299) is AlertState.PENDING
        assert run.sent == []
        assert run.tick(300) is AlertState.FIRING
        assert run.sent == ["firing"]
        assert run.status.started_at == at(300)
        assert run.status.active_since == at(0)
        assert run.history == [
            (AlertState.INACTIVE, AlertState.PENDING),
            (AlertState.PENDING, AlertState.FIRING),
        ]

    def test_a_clear_while_pending_goes_back_to_inactive_without_firing(self) -> None:
        run = Run(Policy(for_=timedelta(minutes=5)))
        run.feed(breach(), 0)
        assert run.feed(clear(), 100) is AlertState.INACTIVE
        assert run.tick(400) is AlertState.INACTIVE
        assert run.sent == []

    def test_without_for_the_first_breach_fires(self) -> None:
        run = Run()
        assert run.feed(breach(7.5), 0) is AlertState.FIRING
        assert run.sent == ["firing"]
        assert run.status.value == 7.5


class TestDedupeResolveRepeat:
    def test_a_firing_alert_fires_once_however_many_breaches(self) -> None:
        run = Run()
        for s in range(0, 600, 10):
            run.feed(breach(), s)
        assert run.sent == ["firing"]

    def test_recovery_resolves_once_with_ends_at(self) -> None:
        run = Run()
        run.feed(breach(), 0)
        assert run.feed(clear(), 60) is AlertState.RESOLVED
        run.feed(clear(), 70)
        assert run.sent == ["firing", "resolved"]
        assert run.status.started_at == at(0)
        assert run.status.ended_at == at(60)

    def test_a_new_breach_after_resolution_is_a_new_alert(self) -> None:
        run = Run()
        run.feed(breach(), 0)
        run.feed(clear(), 60)
        run.feed(breach(), 120)
        assert run.sent == ["firing", "resolved", "firing"]
        assert run.status.started_at == at(120)
        assert run.status.ended_at is None

    def test_still_firing_is_repeated_every_repeat_interval(self) -> None:
        run = Run(Policy(repeat_interval=timedelta(hours=4)))
        run.feed(breach(), 0)
        run.tick(4 * 3600 - 1)
        assert run.sent == ["firing"]
        run.tick(4 * 3600)
        run.tick(4 * 3600 + 60)
        run.tick(8 * 3600)
        assert run.sent == ["firing", "firing (repeat)", "firing (repeat)"]

    def test_an_acknowledged_alert_is_not_repeated(self) -> None:
        run = Run(Policy(repeat_interval=timedelta(hours=1)))
        run.feed(breach(), 0)
        run.tick(7200, Marks(acknowledged=True))
        assert run.sent == ["firing"]


class TestHysteresis:
    def test_flapping_inside_the_band_does_not_resolve_or_refire(self) -> None:
        """Fire above 5, resolve only at or below 4: values dancing around 5 give one alert."""

        def obs(value: float) -> Observation:
            return Observation(compare(Operator.ABOVE, 5.0, 4.0, value), value)

        run = Run()
        for i, value in enumerate([5.5, 4.9, 5.2, 4.5, 5.1, 4.1, 5.3]):
            run.feed(obs(value), i * 10)
        assert run.status.state is AlertState.FIRING
        assert run.sent == ["firing"]
        run.feed(obs(4.0), 100)
        assert run.sent == ["firing", "resolved"]

    def test_a_value_in_the_band_never_starts_an_alert(self) -> None:
        run = Run()
        run.feed(Observation(compare(Operator.ABOVE, 5.0, 4.0, 4.5), 4.5), 0)
        assert run.status.state is AlertState.INACTIVE

    def test_without_hysteresis_the_same_values_flap(self) -> None:
        run = Run()
        for i, value in enumerate([5.5, 4.9, 5.2]):
            run.feed(Observation(compare(Operator.ABOVE, 5.0, None, value), value), i * 10)
        assert run.sent == ["firing", "resolved", "firing"]

    def test_keep_firing_for_holds_a_brief_recovery(self) -> None:
        run = Run(Policy(keep_firing_for=timedelta(minutes=2)))
        run.feed(breach(), 0)
        assert run.feed(clear(), 10) is AlertState.FIRING
        assert run.feed(breach(), 60) is AlertState.FIRING  # came back: the clock restarts
        run.feed(clear(), 70)
        assert run.tick(189) is AlertState.FIRING
        assert run.tick(190) is AlertState.RESOLVED
        assert run.sent == ["firing", "resolved"]


class TestSilenceAndInhibition:
    def test_a_silenced_alert_is_tracked_but_not_published(self) -> None:
        run = Run()
        silenced = Marks(silenced=True)
        assert run.feed(breach(), 0, silenced) is AlertState.FIRING
        assert run.feed(clear(), 60, silenced) is AlertState.RESOLVED
        assert run.sent == []
        assert (AlertState.INACTIVE, AlertState.FIRING) in run.history

    def test_an_alert_still_firing_when_its_silence_ends_is_published_then(self) -> None:
        run = Run()
        run.feed(breach(), 0, Marks(silenced=True))
        run.tick(30, Marks(silenced=True))
        assert run.sent == []
        run.tick(60)
        assert run.sent == ["firing"]

    def test_a_published_alert_silenced_later_still_publishes_its_resolution(self) -> None:
        run = Run()
        run.feed(breach(), 0)
        run.feed(clear(), 60, Marks(silenced=True))
        assert run.sent == ["firing", "resolved"]

    def test_a_kr_alert_is_inhibited_while_its_kpi_alert_fires(self) -> None:
        kpi_alert = {"alertname": "ChurnHigh", "tenant": "acme", "kpi": "churn"}
        kr_alert = {
            "alertname": "KROffTrack",
            "tenant": "acme",
            "key_result": "kr1",
            "kpi": "churn",
        }
        other_kr = {"alertname": "KROffTrack", "tenant": "acme", "key_result": "kr2", "kpi": "nps"}
        other_tenant = {**kpi_alert, "tenant": "globex"}
        assert inhibited(kr_alert, [kpi_alert])
        assert not inhibited(other_kr, [kpi_alert])
        assert not inhibited(kr_alert, [other_tenant])
        assert not inhibited(kpi_alert, [kr_alert])

        run = Run()
        run.feed(breach(), 0, Marks(inhibited=inhibited(kr_alert, [kpi_alert])))
        assert run.status.state is AlertState.FIRING
        assert run.sent == []
        run.tick(30, Marks(inhibited=inhibited(kr_alert, [])))  # the KPI alert resolved
        assert run.sent == ["firing"]


class TestNoData:
    def test_no_data_after_the_silence_of_the_subject(self) -> None:
        run = Run(Policy(no_data_after=timedelta(minutes=10)))
        run.feed(clear(), 0)
        assert run.tick(599) is AlertState.INACTIVE
        assert run.tick(600) is AlertState.NO_DATA
        assert run.history[-1] == (AlertState.INACTIVE, AlertState.NO_DATA)
        assert run.feed(clear(), 700) is AlertState.INACTIVE

    def test_a_firing_alert_without_data_stays_open_until_data_says_otherwise(self) -> None:
        run = Run()
        run.feed(breach(), 0)
        assert run.feed(Observation(Verdict.NO_DATA, None), 60) is AlertState.NO_DATA
        assert run.feed(breach(), 120) is AlertState.FIRING
        assert run.sent == ["firing"]  # the same alert continues, not a second one
        run.feed(Observation(Verdict.NO_DATA, None), 180)
        assert run.feed(clear(), 240) is AlertState.RESOLVED
        assert run.sent == ["firing", "resolved"]

    def test_a_no_data_rule_fires_on_the_clock_without_refreshing_last_seen(self) -> None:
        run = Run()
        run.feed(clear(), 0)
        assert run.feed(Observation(Verdict.BREACH, None, fresh=False), 600) is AlertState.FIRING
        assert run.status.last_seen_at == at(0)
        assert run.feed(clear(), 700) is AlertState.RESOLVED


def test_every_inhibit_rule_holds_the_kpi_label_equal() -> None:
    """The evaluator looks for inhibitors among the firing alerts of the target's KPI only
    (`BatchLoader.firing_on`); that is exact only while every rule holds `kpi` equal."""
    assert DEFAULT_INHIBIT_RULES
    assert all("kpi" in rule.equal for rule in DEFAULT_INHIBIT_RULES)
