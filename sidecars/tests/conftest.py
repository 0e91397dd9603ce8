"""Shared test resources: the client's fixture files, generated documents, and a real sidecar process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont

from mdso_sidecar.engines.base import Engine
from mdso_sidecar.settings import load_settings

E = TypeVar("E", bound=Engine)

SIDECARS = Path(__file__).resolve().parents[1]
REPO = SIDECARS.parent
FIXTURES = REPO / "test" / "fixtures" / "client"
EXPECTED = ("SIRET 12345678900000", "Nice", "Pompe à chaleur")


def loaded_engine(cls: type[E], service: str, **env: str) -> E:
    """An engine of `service` with two reading threads and `env`, loaded (models ready)."""
    engine = cls(load_settings(service, {"OCR_THREADS": "2", **env}))
    engine.load()
    return engine


def text_page(text: str, size: tuple[int, int] = (1240, 1754)) -> Image.Image:
    """A white A4 page at 150 dpi with large black text (readable by tesseract)."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(12, min(48, size[1] // 4)))
    draw.text((size[0] // 12, size[1] // 12), text, fill="black", font=font)
    return image


def write_tiff(path: Path, pages: int) -> Path:
    frames = [text_page(f"Page {n}") for n in range(1, pages + 1)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


class Sidecar:
    """A real sidecar process on a Unix socket in a temporary directory."""

    def __init__(
        self,
        tmp: Path,
        env: dict[str, str] | None = None,
        module: str = "mdso_sidecar",
        service: str = "tesseract",
    ) -> None:
        self.tmp = tmp
        self.socket = tmp / "run" / f"{service}.sock"
        self.socket.parent.mkdir(mode=0o700, exist_ok=True)
        self.spool_base = tmp / "spool"
        self.spool_base.mkdir(exist_ok=True)
        self.log_path = tmp / "sidecar.log"
        full_env = {
            **os.environ,
            "PYTHONPATH": str(SIDECARS),
            "SIDECAR_TMP_DIR": str(self.spool_base),
            "LOG_LEVEL": "debug",
            **(env or {}),
        }
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--service", service, "--socket", str(self.socket)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env=full_env,
            cwd=str(tmp),
        )
        # Generous bounds, not deadlines: a busy machine must not fail a test that would pass.
        self.client = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket)), base_url="http://sidecar", timeout=300
        )

    def wait_listening(self, timeout: float = 60) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"sidecar exited {self.proc.returncode}: {self.log_text()}")
            if self.socket.exists():
                try:
                    return self.client.get("/health").json()  # type: ignore[no-any-return]
                except httpx.TransportError:
                    pass
            time.sleep(0.01)
        raise AssertionError("sidecar did not listen in time")

    def wait_state(self, state: str, timeout: float = 60) -> dict[str, Any]:
        end = time.monotonic() + timeout
        health = self.wait_listening(timeout)
        while health["state"] != state and time.monotonic() < end:
            time.sleep(0.05)
            health = self.client.get("/health").json()
        assert health["state"] == state, health
        return health

    def spool_dirs(self) -> list[Path]:
        return list(self.spool_base.iterdir())

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_text().splitlines() if line.startswith("{")]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdin:
                self.proc.stdin.close()
            self._log.close()


@pytest.fixture
def sidecar_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Sidecar] = []

    def start(
        env: dict[str, str] | None = None,
        module: str = "mdso_sidecar",
        name: str = "s",
        service: str = "tesseract",
    ) -> Sidecar:
        base = tmp_path / f"{name}{len(started)}"
        base.mkdir()
        sidecar = Sidecar(base, env, module, service)
        started.append(sidecar)
        return sidecar

    yield start
    for sidecar in started:
        if sidecar.proc.poll() is None:
            sidecar.stop(signal.SIGKILL)
