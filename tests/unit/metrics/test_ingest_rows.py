"""The pure parts of the ingest path: the measurement key and a batch's own aggregates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.metrics.codec import identity
from services.metrics.domain.rollups import Point, of_points
from services.metrics.ingest.rows import Record, record_rollups
from services.metrics.tables import from_micros, to_micros


class TestIdentity:
    def test_is_sixteen_bytes_and_stable_across_releases(self) -> None:
        # Stored keys depend on it: a change would store every redelivery again.
        key = identity("acme", "crm/hubspot-sync", "8c0c7a4e")
        assert len(key) == 16
        assert key.hex() == "08ab26be8acc215dd383155f216225a0"

    def test_no_two_ways_to_split_the_same_text_collide(self) -> None:
        keys = {
            identity("ab", "c", "d"),
            identity("a", "bc", "d"),
            identity("a", "b", "cd"),
            identity("a", "1:b", "d"),
        }
        assert len(keys) == 4

    def test_a_lone_surrogate_in_an_id_still_has_a_key(self) -> None:
        assert identity("acme", "crm", "\ud800") != identity("acme", "crm", "\ud801")


BASE = datetime(2026, 11, 16, tzinfo=UTC)
points = st.lists(
    st.tuples(
        st.sampled_from(["t1", "t2"]),
        st.sampled_from(["mql", "arr"]),
        st.integers(0, 3),  # period
        st.integers(0, 20),  # minutes into it: ties in time are likely
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    ),
    max_size=80,
)


@given(points)
def test_record_rollups_follow_the_domain_rules(
    items: list[tuple[str, str, int, int, float]],
) -> None:
    records: list[Record] = []
    for i, (tenant, kpi, period, minute, value) in enumerate(items):
        start = to_micros(BASE + timedelta(days=period))
        at = start + minute * 60_000_000
        records.append((i.to_bytes(16), tenant, "src", str(i), kpi, at, start, value, None))
    got = record_rollups(records)
    groups: dict[tuple[str, str, int], list[Point]] = {}
    for _k, tenant, _s, _i, kpi, at, start, value, _d in records:
        groups.setdefault((tenant, kpi, start), []).append(Point(from_micros(at), value))
    assert set(got) == set(groups)
    for key, group in groups.items():
        want = of_points(group)
        assert want is not None
        count, total, lo, hi, last_value, last_at = got[key]
        assert (count, lo, hi, last_value) == (
            want.count,
            want.minimum,
            want.maximum,
            want.last_value,
        )
        assert from_micros(last_at) == want.last_at
        assert abs(total - want.total) <= 1e-6 * max(1.0, abs(want.total))
