"""Query budgets per page: the number of SQL statements a page runs must not grow with the data
(an N+1 regression fails here). Budgets are committed; raise one only with a reason."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.conftest import demo_email, login

BUDGETS = {
    "/": 10,
    "/countries": 8,
    "/countries?region=AFR&members=1": 8,
    "/countries/KEN": 10,
    "/countries/KEN?tab=history": 12,
    "/classifications": 8,
    "/classifications/cdisah2023-dhi": 8,
    "/classifications/cdhi2018-dhi/1.1.1": 12,
    "/strategy": 6,
    "/organisations": 8,
    "/organisations/1": 8,
    "/organisations/1?tab=history": 8,
    "/admin/users": 10,
    "/admin/users/1": 12,
    "/audit": 8,
    "/api/countries?limit=200": 6,
    "/api/organisations?limit=200": 6,
    "/api/users?limit=200": 8,
    "/maturity": 16,
    "/maturity?rule=gdhm": 16,
    "/maturity/countries/KEN": 24,
    "/maturity/assessments/1": 20,
    "/api/maturity/countries/KEN/benchmarks": 19,
    "/api/maturity/assessments?limit=200": 8,
    "/api/maturity/aggregates?group=income": 8,
    "/api/maturity/scores?rule=gdhm": 6,
    # the map and group pages: session and user (4), framework, years, published answers, all countries (2)
    "/maturity/map": 14,
    "/maturity/map?component=3&rule=gdhm": 14,
    "/maturity/map?year=latest&indicator=15": 14,
    "/maturity/regions/AFR": 14,
    "/maturity/regions/EUR?method=pooled&year=2023": 14,
    "/maturity/income-groups/LMC": 14,
    # settings pages: session and user (4); all frameworks (1); a framework, its crosswalks and the indicators
    # they map (3); the country, its latest published answers, framework, targets, weights (5)
    "/maturity/frameworks": 6,
    "/maturity/frameworks/gdhm-current": 8,
    "/maturity/frameworks/gdhi-2019": 8,
    "/maturity/countries/KEN/targets": 10,
    "/maturity/countries/KEN/targets?year=2030": 10,
    # atlas record pages: session and user (4); the list: count, page, owners, countries with records (2),
    # completeness of the page's rows (7); a record: its detail (13: one query per child table), country,
    # code names, managed lists, investments naming it and their rates and funders (3), history (1)
    "/atlas": 17,
    "/atlas?country=KEN&stage=deploying&status=published&q=a": 17,
    "/atlas/implementations/1": 22,
    "/atlas/implementations/1?tab=history": 23,
    "/atlas/implementations/1/edit": 20,
    "/atlas/implementations/new": 9,
    "/atlas/investments/1": 15,
    "/atlas/investments/new": 8,
    "/atlas/investments/new?implementation=1": 9,
    # solutions: session and user (4); count, page, implementation counts, kind names (4); a solution: the
    # solution, its implementations, owners, countries, kind name (5). Quality: session and user (4); duplicates:
    # regions, visible records, records and their four kinds of links (7); stale: owners, implementations,
    # investments (3); completeness: records and seven kinds of fields (8); countries with records, names (2)
    "/atlas/solutions": 10,
    "/atlas/solutions?q=open": 10,
    "/atlas/solutions/1": 11,
    "/atlas/quality": 26,
    "/atlas/quality?country=KEN&threshold=0.5": 26,
    "/atlas/quality?entity=organisation": 22,
}


class Counter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        self.statements.append(statement)


@pytest.fixture
def admin_client(client):
    assert login(client, demo_email("admin")).status_code == 303
    return client


@pytest.mark.parametrize("url", list(BUDGETS))
def test_page_query_budget(admin_client, demo_db, url):
    counter = Counter()
    admin_client.get(url)  # warm caches (reference names, templates) once
    event.listen(demo_db.engine, "before_cursor_execute", counter)
    try:
        r = admin_client.get(url)
    finally:
        event.remove(demo_db.engine, "before_cursor_execute", counter)
    assert r.status_code == 200, r.text[:300]
    assert len(counter.statements) <= BUDGETS[url], "\n".join(counter.statements)
