"""The web console in Debian's headless Chromium, driven by Playwright, over goals, metrics and
alerts running as processes on the real broker, seeded by `scripts/demo.py`. Each view is
saved as a screenshot: into the directory `LODESTAR_CONSOLE_SHOTS` names
(`LODESTAR_CONSOLE_SHOTS=docs/console` refreshes the README's), else a temporary one, so a
test run leaves the working tree as it was."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from services.goals.settings import GoalsSettings
from shared.auth import generate_key
from shared.settings import Topics
from tests.support.apps import TEST_SECRET_KEY
from tests.support.infra import ROOT
from tests.support.kafka import wait_until
from tests.support.processes import (
    SERVICES,
    Platform,
    free_port,
    principal_env,
    producer_env,
    sqlite_urls,
    start_service,
    wait_ready,
)

pytestmark = pytest.mark.kafka

CHROMIUM = "/usr/bin/chromium"
DEFAULT_GRADUATION = GoalsSettings.model_fields["graduation_periods"].default
SHOTS = Path(
    os.environ.get("LODESTAR_CONSOLE_SHOTS") or Path(tempfile.gettempdir()) / "lodestar-console"
)
LIVE_S = 2.0  # the bound: a measurement shows within 2 s, without a reload


@dataclass
class Demo:
    running: Platform
    key: str
    client: httpx.AsyncClient
    cycle: dict[str, Any]
    mql_history: float = 0.0
    kr_ids: dict[str, str] = field(default_factory=dict)

    @property
    def console(self) -> str:
        return f"{self.running.url('goals')}/console/"

    def url(self, service: str, path: str) -> str:
        return f"{self.running.url(service)}/v1{path}"

    async def get(self, service: str, path: str) -> Any:
        answer = await self.client.get(self.url(service, path))
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def measure(self, kpi: str, value: float, at: datetime) -> None:
        body = {"kpi": kpi, "value": value, "time": at.isoformat()}
        answer = await self.client.post(self.url("metrics", "/measurements"), json=body)
        assert answer.status_code == 202, answer.text


@contextlib.contextmanager
def three_services(bootstrap: str, topics: Topics, key: str, tmp: Path) -> Iterator[Platform]:
    """goals, metrics and alerts as processes, as `tests.support.processes.platform` starts
    them, given longer to be ready: three cold imports at once on a loaded 2-core machine
    took more than its 60 s."""
    ports = {name: free_port() for name in SERVICES}
    env = {
        "LODESTAR_KAFKA_BOOTSTRAP": bootstrap,
        "LODESTAR_TOPICS__PREFIX": topics.prefix,
        "LODESTAR_BOOTSTRAP_TENANT": "acme",
        "LODESTAR_BOOTSTRAP_ADMIN_KEY": key,
        "LODESTAR_SECRET_KEY": TEST_SECRET_KEY,
        "LODESTAR_CONSUMER_POLL_TIMEOUT_MS": "50",
        **{f"LODESTAR_{name.upper()}_URL": f"http://127.0.0.1:{p}" for name, p in ports.items()},
    }
    urls = sqlite_urls(tmp)
    running = Platform()
    try:
        for name in SERVICES:
            running.services[name] = start_service(
                name,
                port=ports[name],
                env={**env, **principal_env(bootstrap, topics, name)},
                database_url=urls[name],
                log_dir=tmp,
            )
        for service in running.services.values():
            wait_ready(service, timeout_s=300)
        yield running
    finally:
        for service in running.services.values():
            service.stop()


@pytest.fixture(scope="module")
async def demo(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, _test_topic_prefixes: set[str]
) -> AsyncIterator[Demo]:
    """The platform with the demo's KPIs, rules and cycle (its own history, not the demo's
    random one): two weeks of MQLs and uptime, churn 2.8 % last month and 2.5 % now, and the
    uptime KPI's what / why / how / who / when filled in."""
    tmp = tmp_path_factory.mktemp("console")
    topics = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    _test_topic_prefixes.add(topics.prefix)  # deleted at the end of the session
    key = generate_key()[0]
    with three_services(kafka_bootstrap, topics, key, tmp) as running:
        seed = await asyncio.create_subprocess_exec(
            sys.executable, "scripts/demo.py", "--goals", running.url("goals"),
            "--metrics", running.url("metrics"), "--alerts", running.url("alerts"),
            "--kafka", kafka_bootstrap, "--tenant", "acme", "--key", key,
            "--topic-prefix", topics.prefix, "--history-days", "0", "--seconds", "0",
            env={**os.environ, **producer_env(kafka_bootstrap)}, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(seed.communicate(), timeout=120)
        assert seed.returncode == 0, output.decode()
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(headers=headers, timeout=15) as client:
            demo = Demo(running, key, client, {})
            cycles = (await demo.get("goals", "/cycles"))["items"]
            assert len(cycles) == 1
            demo.cycle = cycles[0]
            now = datetime.now(UTC)
            starts = datetime.fromisoformat(demo.cycle["starts_at"])
            history: list[dict[str, Any]] = []
            for days_ago, (mql, uptime) in enumerate(zip(MQL_DAYS, UPTIME_DAYS, strict=True), 1):
                at = now - timedelta(days=days_ago)
                history.append({"kpi": "uptime", "value": uptime, "time": at.isoformat()})
                if at >= starts:  # the KR sums the cycle's days only
                    history.append({"kpi": "mql", "value": mql, "time": at.isoformat()})
                    demo.mql_history += mql
            history += [
                {"kpi": "uptime", "value": 99.95, "time": now.isoformat()},
                {"kpi": "churn", "value": 2.8, "time": (now - timedelta(days=31)).isoformat()},
                {"kpi": "churn", "value": 2.5, "time": now.isoformat()},
            ]
            answer = await client.post(demo.url("metrics", "/measurements"), json=history)
            assert answer.status_code == 202, answer.text
            answer = await client.patch(demo.url("metrics", "/kpis/uptime"), json=UPTIME_FACTS)
            assert answer.status_code == 200, answer.text
            for objective in (await demo.get("goals", "/objectives?limit=100"))["items"]:
                detail = await demo.get("goals", f"/objectives/{objective['id']}")
                demo.kr_ids.update({kr["title"]: kr["id"] for kr in detail["key_results"]})

            async def seeded() -> bool:
                kr = await demo.get("goals", f"/key-results/{demo.kr_ids[MQL_KR]}")
                up = await demo.get("metrics", "/kpis/uptime/value")
                return bool(kr["current"] == demo.mql_history and up["value"] == 99.95)

            await wait_until(seeded, what="the seeded values to reach the KR and the KPIs")
            yield demo


MQL_KR = "Reach 250 marketing-qualified leads"
MQL_DAYS = [4.0, 7.0, 5.0, 9.0, 6.0, 3.0, 8.0, 5.0, 7.0, 4.0, 6.0, 9.0, 5.0, 6.0]
UPTIME_DAYS = [99.97, 99.91, 99.8, 99.95, 99.99, 99.62, 99.93, 99.96, 99.9, 99.85, 99.97]
UPTIME_DAYS += [99.99, 99.94, 99.92]
UPTIME_FACTS = {
    "what": "Share of API requests answered without a 5xx",
    "why": "Customers build on the API; every outage is a support ticket",
    "how": "Load-balancer logs, averaged per day",
    "owner": "Platform team (on call: #platform-oncall)",
    "cadence": "P1D",
}


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        await browser.close()


@dataclass
class Tab:
    page: Page
    errors: list[str]

    async def sign_in(self, url: str, key: str) -> None:
        await self.page.goto(url)
        await self.page.get_by_label("API key").fill(key)
        await self.page.get_by_role("button", name="Sign in").click()

    async def shot(self, name: str) -> None:
        # Playwright makes the directory when it is missing.
        await self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


OpenTab = Callable[..., Awaitable[Tab]]


@pytest.fixture
async def open_tab(browser: Browser) -> AsyncIterator[OpenTab]:
    """New tabs (each its own session storage) that record console errors and page errors;
    the test fails if any tab logged one."""
    tabs: list[Tab] = []

    async def open_(width: int = 1280, height: int = 900) -> Tab:
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        tab = Tab(page, [])

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                tab.errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: tab.errors.append(f"page error: {error}"))
        tabs.append(tab)
        return tab

    yield open_
    for tab in tabs:
        await tab.page.context.close()
    assert [e for tab in tabs for e in tab.errors] == []


def kr_bar(page: Page, kr_id: str) -> Any:
    return page.locator(f'li[data-kr="{kr_id}"] [role="progressbar"]')


class TestSignIn:
    async def test_a_wrong_key_is_refused(self, demo: Demo, open_tab: OpenTab) -> None:
        tab = await open_tab()
        await tab.sign_in(demo.console, generate_key()[0])
        await expect(tab.page.get_by_role("alert")).to_contain_text("That key was refused")
        await expect(tab.page.locator("#bar")).to_be_hidden()
        assert await tab.page.evaluate("sessionStorage.length") == 0
        await tab.shot("sign-in-refused")
        # Chromium logs the refused call itself; that one line is the only error allowed.
        assert all("401" in e for e in tab.errors), tab.errors
        tab.errors.clear()

    async def test_the_key_stays_in_session_storage_never_in_the_url(
        self, demo: Demo, open_tab: OpenTab
    ) -> None:
        tab = await open_tab()
        await tab.page.goto(demo.console)
        # By keyboard alone: the key field has the focus, Enter signs in.
        await expect(tab.page.get_by_label("API key")).to_be_focused()
        await tab.page.keyboard.type(demo.key)
        await tab.page.keyboard.press("Enter")
        await expect(tab.page.locator("#who")).to_contain_text("acme")
        kpis_link = tab.page.get_by_role("link", name="KPIs")
        for _ in range(20):  # the views are reachable by Tab from anywhere on the page
            await tab.page.keyboard.press("Tab")
            if await kpis_link.evaluate("link => link === document.activeElement"):
                break
        await expect(kpis_link).to_be_focused()
        await tab.page.keyboard.press("Enter")
        await expect(tab.page.get_by_role("heading", name="KPI dashboard")).to_be_visible()
        assert demo.key not in tab.page.url
        assert await tab.page.evaluate("sessionStorage.getItem('lodestar.key')") == demo.key


class TestServing:
    """The console's own HTTP surface: files, the proxy, whoami."""

    async def test_files_are_served_with_a_strict_policy_and_nothing_else(self, demo: Demo) -> None:
        goals = demo.running.url("goals")
        async with httpx.AsyncClient(base_url=goals) as plain:
            page = await plain.get("/console/")
            assert page.status_code == 200
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert (
                (await plain.get("/console/app.js"))
                .headers["content-type"]
                .startswith("text/javascript")
            )
            for path in ("/console/pages.py", "/console/..%2Fpages.py", "/console/.hidden"):
                assert (await plain.get(path)).status_code == 404, path

    async def test_the_proxy_forwards_the_callers_key_and_only_to_v1(self, demo: Demo) -> None:
        goals = demo.running.url("goals")
        async with httpx.AsyncClient(base_url=goals) as plain:
            direct = await demo.get("metrics", "/kpis/uptime")
            proxied = await demo.client.get(f"{goals}/console/api/metrics/kpis/uptime")
            assert proxied.status_code == 200
            assert proxied.json() == direct
            refused = await plain.get("/console/api/metrics/kpis/uptime")
            assert refused.status_code == 401  # metrics' own answer: no key, no data
            # httpx removes a literal "../" itself; an encoded one reaches the server.
            dotted = await demo.client.get(f"{goals}/console/api/metrics/%2E%2E/healthz")
            assert dotted.status_code == 404
            unknown = await demo.client.get(f"{goals}/console/api/goals/cycles")
            assert unknown.status_code == 422  # only metrics and alerts are forwarded

    async def test_whoami_names_the_tenant_and_scopes(self, demo: Demo) -> None:
        me = await demo.get("goals", "/whoami")
        assert me["tenant"] == "acme"
        assert set(me["scopes"]) == {"admin", "write", "read"}
        assert me["can_write"] is True


class TestViews:
    async def test_the_okr_tree_shows_the_demo_cycle(self, demo: Demo, open_tab: OpenTab) -> None:
        tab = await open_tab()
        await tab.sign_in(demo.console, demo.key)
        page = tab.page
        await expect(page.get_by_label("Cycle")).to_contain_text(demo.cycle["name"])
        for title in ("Grow revenue efficiently", "Fill the pipeline", "Be boringly reliable"):
            await expect(page.locator("article.objective h3", has_text=title)).to_be_visible()
        kr = await demo.get("goals", f"/key-results/{demo.kr_ids[MQL_KR]}")
        await expect(kr_bar(page, kr["id"])).to_have_attribute(
            "aria-valuenow", str(round(demo.mql_history / 250 * 100))
        )
        row = page.locator(f'li[data-kr="{kr["id"]}"]')
        await expect(row.locator(".chip")).to_have_text(kr["status"].replace("_", " "))
        await expect(row).to_contain_text("KPI mql")
        tree = page.get_by_label("Alignment tree")
        await expect(tree.locator("ul li", has_text="Fill the pipeline")).to_be_visible()
        await tab.shot("okr-tree")

        phone = await open_tab(width=390, height=844)
        await phone.sign_in(demo.console, demo.key)
        await expect(kr_bar(phone.page, kr["id"])).to_be_visible()
        await phone.shot("okr-tree-phone")

    async def test_a_kpi_tile_shows_its_health(self, demo: Demo, open_tab: OpenTab) -> None:
        tab = await open_tab()
        await tab.sign_in(demo.console, demo.key)
        await tab.page.get_by_role("link", name="KPIs").click()
        uptime = tab.page.locator('a.tile[data-kpi="uptime"]')
        # 99.95 % against green ≥ 99.9: green (the demo's bands).
        await expect(uptime).to_have_attribute("data-health", "green")
        await expect(uptime.locator(".health")).to_have_text("health: green")
        await expect(uptime.locator(".value")).to_contain_text("99.95")
        await tab.shot("kpi-dashboard")

        await tab.page.get_by_role("button", name="reliability").click()
        await expect(tab.page.locator("a.tile")).to_have_count(1)
        await uptime.click()
        await expect(tab.page.get_by_role("heading", name="API uptime")).to_be_visible()
        facts = tab.page.locator("dl.facts")
        for shown in UPTIME_FACTS.values():
            await expect(facts).to_contain_text(shown if shown != "P1D" else "reports every P1D")
        await expect(facts).to_contain_text("higher is better")
        chart = tab.page.get_by_role("img", name="over its green, amber and red bands")
        await expect(chart).to_be_visible()
        await tab.shot("kpi")

        wall = await open_tab(width=1920, height=1080)
        await wall.sign_in(demo.console + "#/kpis", demo.key)
        await expect(wall.page.locator('a.tile[data-kpi="uptime"]')).to_be_visible()
        await wall.shot("kpi-dashboard-wall")

    async def test_the_key_result_page_has_its_chart_and_check_in_form(
        self, demo: Demo, open_tab: OpenTab
    ) -> None:
        tab = await open_tab()
        await tab.sign_in(demo.console, demo.key)
        await tab.page.get_by_role("link", name=MQL_KR).click()
        page = tab.page
        await expect(page.get_by_role("heading", name=MQL_KR)).to_be_visible()
        kr = await demo.get("goals", f"/key-results/{demo.kr_ids[MQL_KR]}")
        needed = kr["graduation_periods"] or DEFAULT_GRADUATION
        await expect(page.locator("[data-periods]")).to_have_text(
            f"{kr['periods_met']} / {needed} periods met in a row ({kr['periods_elapsed']} elapsed)"
        )
        await expect(page.get_by_role("img", name="check-in values")).to_be_visible()
        await expect(page.get_by_role("form", name="Check in")).to_be_visible()
        await page.get_by_label("Confidence (0 to 1)").fill("0.8")
        await page.get_by_label("Note").fill("webinar booked")
        await page.get_by_role("button", name="Check in").click()
        await expect(page.get_by_role("status").filter(has_text="Checked in.")).to_be_visible()
        found = await demo.get("goals", f"/key-results/{kr['id']}")
        assert found["confidence"] == 0.8
        await expect(page.locator("table")).to_contain_text("webinar booked")
        await tab.shot("key-result")


class TestLive:
    async def test_a_measurement_moves_the_kr_bar_and_the_tile_without_a_reload(
        self, demo: Demo, open_tab: OpenTab
    ) -> None:
        okr, kpis = await open_tab(), await open_tab()
        await okr.sign_in(demo.console, demo.key)
        await kpis.sign_in(demo.console + "#/kpis", demo.key)
        kr_id = demo.kr_ids[MQL_KR]
        before = (await demo.get("goals", f"/key-results/{kr_id}"))["current"]
        bar, tile = kr_bar(okr.page, kr_id), kpis.page.locator('a.tile[data-kpi="mql"]')
        await expect(bar).to_have_attribute("aria-valuenow", str(round(before / 250 * 100)))
        today = await demo.get("metrics", "/kpis/mql/value")
        for tab in (okr, kpis):  # a reload would lose this
            await tab.page.evaluate("window.sentinel = 'no reload'")

        posted = 120.0  # mql is a daily sum: today's tile shows it, the KR adds it
        started = time.monotonic()
        await demo.measure("mql", posted, datetime.now(UTC))
        expected_today = posted + (today["value"] if _is_today(today) else 0.0)
        await expect(bar).to_have_attribute(
            "aria-valuenow", str(round((before + posted) / 250 * 100)), timeout=LIVE_S * 1000
        )
        await expect(tile.locator(".value")).to_contain_text(
            f"{expected_today:g}", timeout=max(0.1, LIVE_S - (time.monotonic() - started)) * 1000
        )
        elapsed = time.monotonic() - started
        await expect(tile).to_have_attribute("data-health", "green")  # ≥ 40 a day
        print(f"console: the measurement reached the bar and the tile in {elapsed:.2f} s")
        assert elapsed < LIVE_S, f"the bar and the tile took {elapsed:.2f} s"
        for tab in (okr, kpis):
            assert await tab.page.evaluate("window.sentinel") == "no reload"
        await expect(okr.page.locator("#live-state")).to_have_text("Live")

    async def test_the_page_says_when_it_cannot_reach_the_platform(
        self, demo: Demo, open_tab: OpenTab
    ) -> None:
        tab = await open_tab()
        await tab.sign_in(demo.console + "#/kpis", demo.key)
        live = tab.page.locator("#live-state")
        await expect(tab.page.locator('a.tile[data-kpi="uptime"]')).to_be_visible()
        await expect(live).to_have_text("Live")
        await expect(tab.page.locator("#heard")).to_contain_text("last heard")
        # The network drops: every call the page makes fails as a refused connection would.
        await tab.page.route("**/console/api/**", lambda route: route.abort("connectionrefused"))
        await expect(live).to_have_text("Cannot reach the platform")
        heard = await tab.page.locator("#heard").text_content()
        await tab.shot("unreachable")
        await tab.page.unroute("**/console/api/**")
        await expect(live).to_have_text("Live")
        await expect(tab.page.locator("#heard")).not_to_have_text(heard or "")
        # Chromium logs each refused call; those are the only errors allowed here.
        assert all("ERR_CONNECTION_REFUSED" in e for e in tab.errors), tab.errors
        tab.errors.clear()


def _is_today(value: dict[str, Any]) -> bool:
    start = value["period_start"]
    return start is not None and datetime.fromisoformat(start).date() == datetime.now(UTC).date()


async def churn_high(demo: Demo) -> dict[str, Any]:
    """The demo's ChurnHigh alert, firing: churn 5 % is above its 3.5."""
    await demo.measure("churn", 5.0, datetime.now(UTC))

    async def firing() -> dict[str, Any] | None:
        items = (await demo.get("alerts", "/alerts?state=firing"))["items"]
        return next((a for a in items if a["labels"]["alertname"] == "ChurnHigh"), None)

    found: dict[str, Any] = await wait_until(firing, what="ChurnHigh to fire")
    return found


class TestAlerts:
    async def test_acknowledging_an_alert_from_the_page(
        self, demo: Demo, open_tab: OpenTab
    ) -> None:
        alert = await churn_high(demo)
        assert alert["acknowledged"] is None
        tab = await open_tab()
        await tab.sign_in(demo.console + "#/alerts", demo.key)
        row = tab.page.locator(f'tr[data-fingerprint="{alert["fingerprint"]}"]')
        await expect(row).to_contain_text("firing")
        await expect(row).to_contain_text("kpi=churn")
        await tab.shot("alerts")
        await row.get_by_role("button", name="Acknowledge").click()
        await expect(row.locator('[data-mark="acknowledged"]')).to_be_visible()

        detail = await demo.get("alerts", f"/alerts/{alert['fingerprint']}")
        assert detail["acknowledged"] is not None
        assert detail["acknowledged"]["note"] == "acknowledged from the console"
        assert any(h["kind"] == "acknowledged" for h in detail["history"])

    async def test_a_read_only_key_sees_no_write_controls(
        self, demo: Demo, open_tab: OpenTab
    ) -> None:
        answer = await demo.client.post(
            demo.url("goals", "/api-keys"), json={"name": "wall screen", "scopes": ["read"]}
        )
        assert answer.status_code == 201, answer.text
        read_key = answer.json()["key"]

        async def known_to_alerts() -> bool:
            headers = {"Authorization": f"Bearer {read_key}"}
            found = await demo.client.get(demo.url("alerts", "/alerts"), headers=headers)
            return found.status_code == 200

        await wait_until(known_to_alerts, what="the read key to reach alerts")
        alert = await churn_high(demo)
        tab = await open_tab()
        await tab.sign_in(demo.console + "#/alerts", read_key)
        page = tab.page
        await expect(page.locator("#who")).to_contain_text("read only")
        # Sentinel: the firing alert is drawn, so buttons absent from its row are absent.
        await expect(page.locator(f'tr[data-fingerprint="{alert["fingerprint"]}"]')).to_be_visible()
        actions = page.get_by_role("button", name=re.compile(r"^(Acknowledge|Silence)"))
        assert await actions.count() == 0
        assert await page.locator("tr[data-fingerprint] button").count() == 0
        assert await page.locator("th", has_text="Actions").count() == 0
        await tab.shot("alerts-read-only")

        await page.goto(demo.console + f"#/kr/{demo.kr_ids[MQL_KR]}")
        await expect(page.get_by_role("heading", name=MQL_KR)).to_be_visible()
        assert await page.get_by_role("form", name="Check in").count() == 0
