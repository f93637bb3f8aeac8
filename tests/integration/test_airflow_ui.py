"""The Airflow UI as the data platform team meets it: Airflow started by `pixguard up`, headless Chromium
(Debian's `chromium`, installed by `make browser-deps`) logs in through the login form and shows the
DAG list. Chromium is driven over the Chrome DevTools Protocol (websockets), no driver needed."""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pixguard.config import Bundle
from pixguard.stack.airflow_server import AirflowServer

pytestmark = pytest.mark.integration

DAG_IDS = ("pix_streaming", "pix_maintenance", "pix_retrain")
NAVIGATED = "Inspected target navigated or closed"  # Chrome DevTools Protocol, error -32000


class Page:
    """One Chromium tab over CDP: evaluate JavaScript, type, navigate, screenshot."""

    def __init__(self, websocket_url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(websocket_url, max_size=None, open_timeout=30)
        self.ids = itertools.count(1)

    def call(self, method: str, **params: object) -> dict:
        message_id = next(self.ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:  # events arrive in between; keep only our answer
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.evaluate(expression):
                    return
            except RuntimeError as exc:
                # The page navigated during the evaluation (e.g. the redirect to the login form): not yet.
                if NAVIGATED not in str(exc):
                    raise
            time.sleep(0.5)
        text = self.evaluate("document.location.href + '\\n' + (document.body ? document.body.innerText : '')")
        raise AssertionError(f"timed out waiting for {what}; page was:\n{str(text)[:2000]}")

    def type_into(self, selector: str, text: str) -> None:
        assert self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
            "if (!e) return false; e.focus(); return true; })()"
        ), selector
        self.call("Input.insertText", text=text)

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Page]:
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen(
        [
            "chromium",
            "--headless=new",
            "--no-sandbox",  # tests may run as root in containers
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()) and time.monotonic() < deadline:
            assert process.poll() is None, "chromium exited at start"
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = Page(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))
        page.call("Page.enable")
        page.call("Runtime.enable")
        yield page
        page.close()
    finally:
        os.killpg(process.pid, 9)
        process.wait(timeout=30)


@pytest.fixture
def airflow_ui(bundle: Bundle) -> Iterator[AirflowServer]:
    """`pixguard up --only airflow` in the test stack's environment; stopped (only Airflow) afterwards."""
    server = AirflowServer(bundle)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "pixguard"), "up", "--only", "airflow"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert server.url in result.stdout
        yield server
    finally:
        server.stop()


def test_headless_chromium_logs_in_and_sees_the_three_dags(
    airflow_ui: AirflowServer, chromium: Page, bundle, tmp_path
) -> None:  # noqa: ANN001
    settings = bundle.target.airflow
    chromium.call("Page.navigate", url=f"{airflow_ui.url}/dags")
    chromium.wait_for("!!document.querySelector('input[type=password]')", 120, "the login form")
    chromium.type_into("input[name=username], input[type=text]", settings.admin_user)
    chromium.type_into("input[type=password]", settings.admin_password)
    chromium.evaluate("document.querySelector('button[type=submit]').click()")
    chromium.wait_for("!document.querySelector('input[type=password]')", 60, "the login to go through")

    # The DAG processor parses dags/ in the background: the list fills in within a refresh or two.
    shown = " && ".join(f"document.body.innerText.includes({json.dumps(d)})" for d in DAG_IDS)
    deadline = time.monotonic() + 240
    while True:
        chromium.call("Page.navigate", url=f"{airflow_ui.url}/dags")
        try:
            chromium.wait_for(f"document.body && {shown}", 20, "the three DAG ids on the DAG list")
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    screenshot = tmp_path / "airflow_dag_list.png"
    screenshot.write_bytes(base64.b64decode(chromium.call("Page.captureScreenshot", format="png")["data"]))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    text = chromium.evaluate("document.body.innerText")
    assert all(dag_id in text for dag_id in DAG_IDS)
    assert "login" not in str(chromium.evaluate("document.location.pathname")).lower()
