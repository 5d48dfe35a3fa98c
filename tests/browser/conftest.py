"""Browser tests: the real application served by uvicorn on a free loopback port, driven through
Debian's chromium by pytest-playwright.

One demo database (reference data + demo data set) is prepared per test session in a temporary
directory; the server runs in a background thread and is stopped at the end. Tests that change data
use values that no other test depends on, so their order does not matter.

Full-page screenshots of the main pages go to ``screenshots/`` at the repository root (gitignored)
for people to look at; nothing asserts on pixels."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import BrowserContext, Page, Playwright, expect
from sqlalchemy import select

from dho.accounts.models import Organisation, User
from dho.db import Database, import_all_models

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DEMO_PASSWORD = "demo-password"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"

# Fail fast: every page here is served from loopback and renders in well under a second.
expect.set_options(timeout=5_000)


def demo_email(local: str) -> str:
    return f"{local}@demo.example.org"


@dataclass
class LiveApp:
    url: str
    database_url: str
    org_ids: dict[str, int] = field(default_factory=dict)  # acronym -> organisation id
    display_names: dict[str, str] = field(default_factory=dict)  # e-mail -> display name

    def organisation_count(self, name: str) -> int:
        """How many organisations carry this exact name (read straight from the database)."""
        db = Database(self.database_url)
        try:
            with db.session() as session:
                return len(session.execute(select(Organisation.id).where(Organisation.name == name)).all())
        finally:
            db.dispose()


def _prepare_demo_database(path: Path) -> LiveApp:
    from dho import demo
    from dho.bootstrap import initialise

    import_all_models()
    url = f"sqlite:///{path}"
    db = Database(url)
    initialise(db)
    with db.session() as session:
        demo.load(session)
    live = LiveApp(url="", database_url=url)
    with db.session() as session:
        for org in session.execute(select(Organisation).where(Organisation.acronym.is_not(None))).scalars():
            live.org_ids[org.acronym] = org.id
        for user in session.execute(select(User)).scalars():
            live.display_names[user.email] = user.display_name
    db.dispose()
    return live


def _wait_until_healthy(url: str, thread: threading.Thread, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the uvicorn thread stopped before the app answered /api/health")
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200 and json.load(response).get("status") == "ok":
                    return
        except Exception as exc:  # not listening yet
            last_error = exc
        time.sleep(0.05)
    raise RuntimeError(f"the app did not answer {url}/api/health within {timeout} s: {last_error}")


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The demo database and the app served by uvicorn on 127.0.0.1 (port picked by the OS)."""
    from dho.web.app import create_app

    live = _prepare_demo_database(tmp_path_factory.mktemp("browser") / "demo.sqlite3")
    app = create_app(live.database_url)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound before the server starts: no race for the port
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="dho-uvicorn", daemon=True)
    thread.start()
    live.url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(live.url, thread)
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        app.state.db.dispose()


# ---------------------------------------------------------------- pytest-playwright configuration


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium: Playwright's own browser download is not available here."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any], live_app: LiveApp) -> dict[str, Any]:
    # An English browser, so the language the app negotiates from Accept-Language is known.
    return {**browser_context_args, "base_url": live_app.url, "locale": "en-US",
            "viewport": {"width": 1280, "height": 900}}


# ---------------------------------------------------------------- helpers for the tests


@pytest.fixture(scope="session")
def shoot() -> Callable[[Page, str], Path]:
    """Full-page screenshot into screenshots/NAME.png (overwritten on every run)."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def _shoot(page: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shoot


@pytest.fixture(scope="session")
def _signed_in_states() -> dict[str, dict[str, Any]]:
    """Storage state (cookies) of each demo account, signed in once per test session."""
    return {}


@pytest.fixture
def page_as(new_context: Callable[..., BrowserContext], playwright: Playwright, live_app: LiveApp,
            _signed_in_states: dict[str, dict[str, Any]]) -> Callable[[str], Page]:
    """A page in a fresh browser context that is already signed in as the given demo account.

    The sign-in form itself is exercised in test_login.py; elsewhere the session cookie obtained by
    posting that form once per account is reused, which keeps the suite fast."""

    def _open(email: str) -> Page:
        state = _signed_in_states.get(email)
        if state is None:
            api = playwright.request.new_context(base_url=live_app.url)
            try:
                match = re.search(r'name="csrf_token" value="([^"]+)"', api.get("/login").text())
                assert match, "no CSRF field on /login"
                response = api.post("/login", max_redirects=0, form={
                    "email": email, "password": DEMO_PASSWORD, "csrf_token": match.group(1), "next": "/"})
                assert response.status == 303, f"signing in as {email} failed: {response.status}"
                state = api.storage_state()
            finally:
                api.dispose()
            _signed_in_states[email] = state
        page = new_context(storage_state=state).new_page()
        return page

    return _open


@pytest.fixture
def page_problems(page: Page) -> list[str]:
    """Uncaught script errors and console errors on the test's page (CSP violations are console errors)."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error on {page.url}: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type} on {page.url}: {msg.text}")
            if msg.type == "error" else None)
    return problems
