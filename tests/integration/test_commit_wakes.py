"""`Database.after_writing`: a loop that reads one table is woken by the commits that wrote
to it, and by no other (each wake-up is a query of that loop), on both databases."""

from __future__ import annotations

from sqlalchemy import text

from shared.db import Database, wrote
from tests.conftest import DatabaseFactory


async def test_a_commit_wakes_the_loops_of_what_it_wrote_and_only_those(
    databases: DatabaseFactory,
) -> None:
    db = Database(await databases.new())
    woken: list[str] = []
    db.after_writing("deliveries", lambda: woken.append("deliveries"))
    db.after_writing("alerts", lambda: woken.append("alerts"))
    db.after_commit.append(lambda: woken.append("any"))
    try:
        async with db.transaction() as session:
            await session.execute(text("SELECT 1"))
        assert woken == ["any"], "a commit that wrote neither wakes neither"

        woken.clear()
        async with db.transaction() as session:
            wrote(session, "deliveries")
            wrote(session, "deliveries")
        assert woken == ["any", "deliveries"], "once per commit, however often it was noted"

        woken.clear()
        async with db.transaction(notify=False) as session:
            wrote(session, "alerts")
        assert woken == []

        woken.clear()
        try:
            async with db.transaction() as session:
                wrote(session, "alerts")
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        assert woken == [], "a rolled-back transaction wakes nothing"
    finally:
        await db.dispose()
