"""Starts the real service for the didit-sdk tests exactly as tests/edge/harness.mjs does.

`node scripts/dev.mjs --port <free>` (wrangler dev → workerd, local D1 and R2) with a fresh
FACEGATE_STATE_DIR, and FACEGATE_WEBHOOK_URL pointing at a receiver that runs in this test
process and records every delivery's raw body and headers. The process group is killed at the
end of the session.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("FACEGATE_DATA_DIR", ROOT.parent / "shared" / "data"))
START_TIMEOUT_S = 180.0


@dataclass
class Delivery:
    """One webhook POST as the receiver saw it."""

    path: str
    headers: dict[str, str]
    raw_body: bytes
    received_at: float

    @property
    def body(self) -> dict:
        return json.loads(self.raw_body)


@dataclass
class WebhookReceiver:
    """An http.server on 127.0.0.1 in a thread; answers 200 and keeps every delivery."""

    url: str
    _server: http.server.ThreadingHTTPServer
    _deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deliveries(self, session_id: str | None = None) -> list[Delivery]:
        with self._lock:
            found = list(self._deliveries)
        if session_id is None:
            return found
        return [d for d in found if _session_id_of(d) == session_id]

    def wait_for(self, session_id: str, status: str, timeout: float = 15.0) -> list[Delivery]:
        """Polls until a delivery with `status` arrived for the session; returns all of its."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries(session_id)
            if any(_status_of(d) == status for d in found):
                return found
            if time.monotonic() > deadline:
                seen = [(_status_of(d), d.received_at) for d in found]
                raise AssertionError(
                    f"no {status!r} webhook for session {session_id} within {timeout} s; got {seen}"
                )
            time.sleep(0.1)


def _session_id_of(d: Delivery) -> str | None:
    try:
        return d.body.get("session_id")
    except ValueError:
        return None


def _status_of(d: Delivery) -> str | None:
    try:
        return d.body.get("status")
    except ValueError:
        return None


def _start_receiver() -> WebhookReceiver:
    receiver: WebhookReceiver

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            delivery = Delivery(
                path=self.path,
                headers={k: v for k, v in self.headers.items()},
                raw_body=raw,
                received_at=time.time(),
            )
            with receiver._lock:
                receiver._deliveries.append(delivery)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    receiver = WebhookReceiver(url=f"http://{host}:{port}/didit/webhook", _server=server)
    threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True).start()
    return receiver


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class App:
    origin: str
    base_url: str
    api_key: str
    webhook_secret: str
    webhook_url: str
    workflows: dict[str, str]
    receiver: WebhookReceiver
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def webhook_receiver() -> WebhookReceiver:
    receiver = _start_receiver()
    yield receiver
    receiver._server.shutdown()
    receiver._server.server_close()


@pytest.fixture(scope="session")
def app(webhook_receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory) -> App:
    port = _free_port()
    state = Path(tempfile.mkdtemp(prefix="facegate-test-"))
    log_path = tmp_path_factory.mktemp("service") / "dev.log"
    dev_file = ROOT / ".facegate" / ("dev.json" if port == 8787 else f"dev-{port}.json")
    env = {
        **os.environ,
        "FACEGATE_STATE_DIR": str(state),
        "FACEGATE_WEBHOOK_URL": webhook_receiver.url,
    }
    log = open(log_path, "wb")  # noqa: SIM115 (kept open for the child's lifetime)
    child = subprocess.Popen(
        ["node", str(ROOT / "scripts" / "dev.mjs"), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, like `detached: true` in harness.mjs
    )
    origin = f"http://127.0.0.1:{port}"

    def stop() -> None:
        for sig, pause in ((signal.SIGTERM, 0.3), (signal.SIGKILL, 0.0)):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                pass
            time.sleep(pause)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        log.close()
        shutil.rmtree(state, ignore_errors=True)
        dev_file.unlink(missing_ok=True)

    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"the service exited early:\n{log_path.read_text(errors='replace')}")
            try:
                if httpx.get(f"{origin}/system/healthcheck", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the service did not answer within {START_TIMEOUT_S} s:\n"
                    f"{log_path.read_text(errors='replace')}"
                )
            time.sleep(0.25)
        # dev.mjs makes its workflows through the API once the worker answers, then rewrites
        # the file (whole, by rename).
        while True:
            dev = json.loads(dev_file.read_text()) if dev_file.exists() else {}
            if dev.get("workflows"):
                break
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"no workflows in {dev_file}:\n{log_path.read_text(errors='replace')}"
                )
            time.sleep(0.1)
    except BaseException:
        stop()
        raise
    assert dev["webhook_url"] == webhook_receiver.url, dev
    yield App(
        origin=origin,
        base_url=dev["base_url"],
        api_key=dev["api_key"],
        webhook_secret=dev["webhook_secret"],
        webhook_url=dev["webhook_url"],
        workflows=dev["workflows"],
        receiver=webhook_receiver,
        log_path=log_path,
    )
    stop()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR
