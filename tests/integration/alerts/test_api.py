"""The REST API and the marks: rule validation and CRUD, alert lists, acks, silences, the
built-in rules and the inhibition of a KR alert by its KPI's alert, on the real broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.alerts.app import create_app
from shared.auth import generate_key, install_bootstrap_key
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import (
    alerts_settings,
    kpi_value,
    kr_progress,
    not_sentinel,
    of_type,
    read_to_end,
    send,
    sentinel,
)
from tests.support.apps import running
from tests.support.kafka import TopicReader

pytestmark = pytest.mark.kafka


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


class TestRules:
    async def test_validation_crud_and_tenant_isolation(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        async with running(create_app(settings), admin_key) as app:
            bad = [
                {"name": "X", "threshold": 1.0},  # no target
                {"name": "X", "kpi": "a", "key_result": "k", "threshold": 1.0},  # two
                {"name": "X", "kpi": "a"},  # threshold without a threshold
                {"name": "X", "kpi": "a", "threshold": 5, "resolve_threshold": 6},
                {"name": "X", "kpi": "a", "threshold": False},  # strict: no bool
                {"name": "X", "kpi": "a", "condition": "status", "status": "off_track"},
                {"name": "X", "kpi": "a", "threshold": 1, "labels": {"tenant": "evil"}},
                {"name": "X", "kpi": "a", "threshold": 1, "webhook": {"url": "x", "secret": "s"}},
            ]
            for body in bad:
                answer = await app.client.post("/v1/rules", json=body)
                assert answer.status_code == 422, (body, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"

            ids = []
            for i in range(3):
                body = {"name": f"Rule{i}", "selector": {"tags": ["financial"]}, "threshold": i}
                created = await app.client.post("/v1/rules", json=body)
                assert created.status_code == 201, created.text
                ids.append(created.json()["id"])
            first = (await app.client.get("/v1/rules", params={"limit": 2})).json()
            rest = (
                await app.client.get(
                    "/v1/rules", params={"limit": 2, "cursor": first["next_cursor"]}
                )
            ).json()
            assert [r["name"] for r in first["items"] + rest["items"]] == [
                "Rule0",
                "Rule1",
                "Rule2",
            ]

            patched = await app.client.patch(f"/v1/rules/{ids[0]}", json={"for_seconds": 60})
            assert patched.status_code == 200
            assert patched.json()["for_seconds"] == 60
            assert (await app.client.delete(f"/v1/rules/{ids[1]}")).status_code == 204
            assert (await app.client.get(f"/v1/rules/{ids[1]}")).status_code == 404

            other_key = generate_key()[0]
            async with app.runtime.db.transaction() as session:
                await install_bootstrap_key(session, "other", other_key)
            other = {"Authorization": f"Bearer {other_key}"}
            assert (await app.client.get(f"/v1/rules/{ids[0]}", headers=other)).status_code == 404
            assert (await app.client.get("/v1/rules", headers=other)).json()["items"] == []


class TestMarks:
    async def test_silence_ack_and_list_filters(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        kpi_values = topics.name(topics.kpi_values)
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            for kpi in ("churn", "nps"):
                body = {"name": "High", "kpi": kpi, "threshold": 5.0, "labels": {"team": "growth"}}
                assert (await app.client.post("/v1/rules", json=body)).status_code == 201
            silence = await app.client.post(
                "/v1/silences",
                json={
                    "matchers": [{"name": "kpi", "op": "=~", "value": "chu.*"}],
                    "endsAt": later(hours=1),
                    "createdBy": "sre@acme",
                    "comment": "migration tonight",
                },
            )
            assert silence.status_code == 201, silence.text
            assert silence.json()["state"] == "active"
            assert silence.json()["createdBy"] == "sre@acme"

            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 9.0), kpi_value("nps", 9.0))
            await alerts.wait_for(
                lambda _: len(not_sentinel(alerts)) >= 1, what="the unsilenced alert"
            )
            await sentinel(app.client, kafka_bootstrap, kpi_values, alerts, after="churn")
            assert [e["data"]["labels"]["kpi"] for e in not_sentinel(alerts)] == ["nps"]

            # Both are tracked and listed; the silenced one says by which silence.
            listed = (await app.client.get("/v1/alerts", params={"state": "firing"})).json()
            by_kpi = {a["labels"]["kpi"]: a for a in listed["items"]}
            assert by_kpi["churn"]["silenced_by"] == [silence.json()["id"]]
            assert by_kpi["nps"]["silenced_by"] == []
            filtered = await app.client.get(
                "/v1/alerts", params={"label": ["kpi=nps", "team=growth"]}
            )
            assert [a["labels"]["kpi"] for a in filtered.json()["items"]] == ["nps"]
            none = await app.client.get("/v1/alerts", params={"severity": "critical"})
            assert none.json()["items"] == [], (str(none.request.url), none.json())
            growth = {"label": "team=growth", "limit": 1}  # not the sentinel's alert
            page = (await app.client.get("/v1/alerts", params=growth)).json()
            page2 = (
                await app.client.get("/v1/alerts", params={**growth, "cursor": page["next_cursor"]})
            ).json()
            assert {page["items"][0]["fingerprint"], page2["items"][0]["fingerprint"]} == {
                by_kpi["churn"]["fingerprint"],
                by_kpi["nps"]["fingerprint"],
            }

            fp = by_kpi["nps"]["fingerprint"]
            acked = await app.client.post(
                f"/v1/alerts/{fp}/ack", json={"by": "ana", "note": "on it"}
            )
            assert acked.status_code == 200, acked.text
            assert acked.json()["acknowledged"]["by"] == "ana"
            history = (await app.client.get(f"/v1/alerts/{fp}")).json()["history"]
            assert history[-1]["kind"] == "acknowledged"
            assert history[-1]["detail"] == "ana: on it"

            # Expiring the silence publishes the alert it held back, at the next tick.
            expired = await app.client.delete(f"/v1/silences/{silence.json()['id']}")
            assert expired.json()["state"] == "expired"
            await alerts.wait_for(
                lambda _: len(of_type(alerts, "firing.v1")) >= 2, what="the alert after the silence"
            )
            assert of_type(alerts, "firing.v1")[1]["data"]["labels"]["kpi"] == "churn"

            await send(kafka_bootstrap, kpi_values, kpi_value("nps", 1.0))
            await alerts.wait_for(lambda rs: len(of_type(alerts, "resolved.v1")) == 1)
            after = (await app.client.get(f"/v1/alerts/{fp}")).json()
            assert after["state"] == "resolved"
            assert after["acknowledged"] is None, "an ack ends with its alert"
            again = await app.client.post(f"/v1/alerts/{fp}/ack", json={})
            assert again.status_code == 409


class TestBuiltinsAndInhibition:
    async def test_kpi_red_fires_and_inhibits_its_linked_kr_until_it_resolves(
        self,
        kafka_bootstrap: str,
        topics: Topics,
        databases: DatabaseFactory,
        admin_key: str,
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            assert (await app.client.get("/v1/settings")).json() == {
                "kpi_red": True,
                "kr_off_track": True,
                "guardrail_breached": True,
            }
            await send(
                kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9, health="red")
            )
            await alerts.wait_for(lambda _: len(not_sentinel(alerts)) >= 1, what="KpiRed")
            assert not_sentinel(alerts)[0]["data"]["labels"]["alertname"] == "KpiRed"

            okr = topics.name(topics.okr_events)
            await send(kafka_bootstrap, okr, kr_progress("kr-1", "off_track", kpi="churn"))
            await send(kafka_bootstrap, okr, kr_progress("kr-2", "off_track", kpi="nps"))
            await alerts.wait_for(
                lambda _: len(not_sentinel(alerts)) >= 2, what="the uninhibited KR alert"
            )
            # kr-1's progress is on okr.events: the sentinel goes into its partition there.
            await sentinel(app.client, kafka_bootstrap, okr, alerts, after="kr-1")
            krs = [e["data"]["labels"].get("key_result") for e in not_sentinel(alerts)]
            assert krs == [None, "kr-2"], "kr-1 is inhibited by the churn alert"

            inhibited = await app.client.get(
                "/v1/alerts", params={"label": "key_result=kr-1", "state": "firing"}
            )
            assert inhibited.json()["items"][0]["inhibited"] is True

            await send(
                kafka_bootstrap,
                topics.name(topics.kpi_values),
                kpi_value("churn", 1, health="green"),
            )
            await alerts.wait_for(
                lambda _: len(not_sentinel(alerts)) >= 4, what="KPI resolved, then kr-1 fires"
            )
            # The two are on the `alerts` topic under different keys (fingerprints), so in
            # partitions of their own: their order is the events' times, not the reading order.
            at = {
                (e["type"].split(".")[-2], e["data"]["labels"]["alertname"]): e["time"]
                for e in not_sentinel(alerts)[2:]
            }
            assert set(at) == {("resolved", "KpiRed"), ("firing", "KeyResultOffTrack")}
            assert at[("resolved", "KpiRed")] <= at[("firing", "KeyResultOffTrack")]

    async def test_a_tenant_can_switch_the_builtin_rules_off(
        self,
        kafka_bootstrap: str,
        topics: Topics,
        databases: DatabaseFactory,
        admin_key: str,
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            await send(
                kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("a", 1, health="red")
            )
            await alerts.wait_for(lambda _: len(not_sentinel(alerts)) >= 1, what="KpiRed")
            off = await app.client.patch("/v1/settings", json={"kpi_red": False})
            assert off.json() == {
                "kpi_red": False,
                "kr_off_track": True,
                "guardrail_breached": True,
            }
            # Switching it off resolves what it held open, and it fires no more.
            await alerts.wait_for(lambda _: len(not_sentinel(alerts)) >= 2, what="the resolution")
            await send(
                kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("b", 9, health="red")
            )
            await sentinel(
                app.client, kafka_bootstrap, topics.name(topics.kpi_values), alerts, after="b"
            )
            assert [e["type"] for e in not_sentinel(alerts)] == [
                "lodestar.alert.firing.v1",
                "lodestar.alert.resolved.v1",
            ]


async def test_unknown_types_on_the_input_topics_are_skipped_not_dead_lettered(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    okr = topics.name(topics.okr_events)
    async with (
        running(create_app(settings), admin_key) as app,
        TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        TopicReader(kafka_bootstrap, settings.topics.dlq_for(okr)) as dlq,
    ):
        other = kr_progress("kr-9", "off_track").replace(
            b"lodestar.kr.progress.v1", b"lodestar.cycle.closed.v1"
        )
        await send(kafka_bootstrap, okr, other, kr_progress("kr-9", "off_track"))
        await alerts.wait_for(
            lambda _: len(not_sentinel(alerts)) >= 1, what="the KR alert after the other type"
        )
        # Read to its end once the event after the other type has been evaluated.
        await read_to_end(dlq)
        assert dlq.records == []
        ready = await app.client.get("/readyz")
        assert ready.status_code == 200, ready.text
