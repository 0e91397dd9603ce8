"""The real gateway for the tools: compiled dist/ started on a free loopback port with a run dir of its
own (as test/helpers/gateway.ts starts it for the tests), and the OCR request every tool sends it."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from mdso_tools import ROOT

KEY = "tools-" + secrets.token_hex(8)


class Gateway:
    """node dist/gateway/src/main.js with `workers` workers, ready (GET /readyz answers 200) once
    constructed; `stop()` ends it and removes its run dir."""

    def __init__(self, workers: int, extra: dict[str, str] | None = None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self.base = Path(tempfile.mkdtemp(prefix="mdso-tools-"))
        self.run_dir = self.base / "run"
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - a fallback HOME, nothing written there
            "NODE_ENV": "production",
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "API_KEY": KEY,
            "RUN_DIR": str(self.run_dir),
            # Its own: a gateway serving from this checkout holds data/jobs (one gateway per directory).
            "JOB_DATA_DIR": str(self.base / "jobs"),
            "WORKERS": str(workers),
            # The service the bench measures (socket_path); the eval names the ones it reads with.
            "ENABLED_SERVICES": "tesseract",
            "LOG_LEVEL": "warn",
            "MAX_UPLOAD_MB": "150",
            "DOTENV_CONFIG_PATH": "/nonexistent",
            **(extra or {}),
        }
        self.log = open(self.base / "gateway.log", "wb")  # noqa: SIM115 - open until stop()
        self.proc = subprocess.Popen(
            ["node", str(ROOT / "dist" / "gateway" / "src" / "main.js")],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                # A loopback http:// URL of our own making: no file:// or remote scheme can reach it.
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as res:  # noqa: S310
                    if res.status == 200:
                        return
            except Exception:  # noqa: BLE001 - not up yet, whatever the error
                time.sleep(0.2)
        log = self.log_text()
        self.stop()
        raise SystemExit(f"gateway not ready; log:\n{log[-3000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket_path(self) -> Path:
        """The tesseract sidecar's socket (to bypass the gateway)."""
        return self.run_dir / "tesseract.sock"

    def connection(self, timeout: float = 600) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def log_text(self) -> str:
        try:
            return (self.base / "gateway.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.base, ignore_errors=True)

    def tree(self) -> list[int]:
        """The primary and every descendant (workers, sidecars)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo += children.get(pid, [])
        return out


def multipart(path: Path, mime: str) -> tuple[bytes, str]:
    """A multipart/form-data body holding `path` as the `file` field, and its boundary."""
    boundary = "mdso" + secrets.token_hex(8)
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
        f"Content-Type: {mime}\r\n\r\n"
    ).encode()
    return head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), boundary


def post_ocr(conn: http.client.HTTPConnection, service: str, body: bytes, boundary: str,
             query: str = "") -> dict[str, Any]:
    """POST /ocr/<service>?<query> with a `multipart` body; the answer, or RuntimeError unless 200."""
    conn.request(
        "POST", f"/ocr/{service}{'?' + query if query else ''}", body=body,
        headers={"x-api-key": KEY, "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    res = conn.getresponse()
    data: dict[str, Any] = json.loads(res.read())
    if res.status != 200:
        raise RuntimeError(f"/ocr/{service}?{query} answered {res.status}: {data}")
    return data
