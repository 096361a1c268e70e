"""A demo shop served as ``make run`` serves it, and a headless Chromium to click through it.

The server is a child process on a store of its own (``RECO_VAR_DIR`` in a temporary folder):
``migrate``, ``demo_setup`` (model search off, a small store) and ``runserver``, all with
``config.settings``, so the page is tested exactly as a person opens it after ``make run``.
"""

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SERVICE_VARIABLES = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "RECO_ARTIFACTS_DIR")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DemoShop:
    def __init__(self, url: str, database: Path):
        self.url = url
        self.database = database
        self.api_key = httpx.get(f"{url}/demo/").text.split('"apiKey": "')[1].split('"')[0]

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Api-Key {self.api_key}"}
        return httpx.request(method, f"{self.url}/api/v1{path}", headers=headers, **kwargs)

    def rows(self, sql: str, *params) -> list[tuple]:
        """Read the shop's database as it is now (read-only, beside the server)."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as connection:
            return connection.execute(sql, params).fetchall()


@pytest.fixture(scope="session")
def demo_shop(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (as .ci/run does)")
    var = tmp_path_factory.mktemp("demo-shop")
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", RECO_VAR_DIR=str(var))
    manage = [sys.executable, str(ROOT / "manage.py")]
    setup = [
        *("demo_setup", "--users", "200", "--items", "80", "--articles", "40", "--days", "20"),
        *("--search-budget", "0", "--no-progress"),
    ]
    for command in (["migrate", "--noinput", "-v0"], setup):
        done = subprocess.run([*manage, *command], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{url}/api/v1/health").status_code < 500:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the demo server did not answer within 30 s")
        yield DemoShop(url, var / "db.sqlite3")
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def browser(demo_shop):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, demo_shop):
    """A fresh browser context (no cart, no guest id) on the demo page; fails on a script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(30_000)  # a busy 2-core machine answers slowly, not wrongly
    page.goto(f"{demo_shop.url}/demo/")
    yield page
    context.close()
    assert not errors, errors
