"""Entry point: `python -m mdso_sidecar --service NAME --socket PATH`, started by the gateway; and
`python -m mdso_sidecar --contract`, which prints the gateway⇄sidecar contract (contract.py) and exits.

Binds the socket (0600), serves, loads the model in the background once listening, and makes sure the
process never outlives the gateway (stdin EOF, parent-death signal). Exit codes: 0 after a graceful
stop, 1 when the model crashed while loading, 2 for a bad setting or option, 3 when its socket file
was removed or replaced (the gateway restarts it on a fresh one).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import logging
import os
import signal
import socket
import stat
import sys
import threading
from pathlib import Path
from types import FrameType

import uvicorn
from setproctitle import setproctitle

from .contract import contract
from .engines import engine_class
from .errors import EngineUnavailable
from .log import configure_logging, get_logger
from .server import Sidecar
from .settings import Settings, SettingsError, load_settings
from .spool import SpoolDir

log = get_logger("mdso_sidecar")

_PR_SET_PDEATHSIG = 1
SOCKET_CHECK_S = 1.0
EXIT_SOCKET_LOST = 3


def _die_with_parent() -> None:
    """Ask Linux to send us SIGTERM when the gateway dies, even by SIGKILL (no stdin EOF needed)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError) as exc:
        log.warning("prctl(PR_SET_PDEATHSIG) unavailable", extra={"error": str(exc)})


def _bind_unix_socket(path: Path) -> socket.socket:
    """Bind with mode 0600 from the first instant (umask), after removing a stale socket file."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(mode):
            raise SettingsError("--socket", f"{path} exists and is not a socket; refusing to replace it")
        path.unlink()  # left by a crashed predecessor
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(128)
    sock.setblocking(False)
    return sock


class Runner:
    """Wires the process lifetime: server, background model load, stdin watch, signals."""

    def __init__(self, settings: Settings, socket_path: Path) -> None:
        self.settings = settings
        self.socket_path = socket_path
        self.exit_code = 0
        self.socket_inode: int | None = None
        self.spool = SpoolDir(settings.tmp_base)
        engine = engine_class(settings.service)(settings)
        self.sidecar = Sidecar(settings, engine, self.spool)
        config = uvicorn.Config(
            self.sidecar.app(),
            uds=str(socket_path),
            log_config=None,
            access_log=False,
            lifespan="off",
            # In-flight requests are always finished: the gateway decides how long it waits (it sends
            # SIGKILL after its own grace period).
            timeout_graceful_shutdown=None,
            server_header=False,
            date_header=False,
            # Longer than the gateway's undici keepAliveTimeout (10 s): the gateway always closes an
            # idle connection first, so it never sends a request on a socket uvicorn is closing
            # (uvicorn's default, 5 s, raced with it and could reset an upload).
            timeout_keep_alive=30,
        )
        self.server = uvicorn.Server(config)

    def request_exit(self, reason: str) -> None:
        if not self.server.should_exit:
            log.info("shutting down", extra={"reason": reason})
        self.server.should_exit = True

    def _on_sigterm(self, signum: int, _frame: FrameType | None) -> None:
        # Installed before uvicorn's own handler, which re-raises the signal to this one once it
        # has shut down gracefully: here that is a no-op, so the process exits 0.
        self.request_exit(signal.Signals(signum).name)

    def _watch_stdin(self) -> None:
        try:
            while os.read(0, 4096):
                pass
        except (OSError, ValueError):
            pass
        self.request_exit("stdin closed: the gateway is gone")

    def _load_engine(self) -> None:
        engine = self.sidecar.engine
        try:
            engine.load()
        except EngineUnavailable as exc:
            self.sidecar.mark_unavailable(str(exc))
            log.warning("engine unavailable", extra={"reason": str(exc)})
        except Exception:
            log.exception("engine failed to load")
            self.exit_code = 1
            self.request_exit("engine failed to load")
        else:
            self.sidecar.mark_ready()
            log.info(
                "engine ready",
                extra={"model": engine.describe(), "workers": self.sidecar.pipeline.workers},
            )

    def _socket_is_ours(self) -> bool:
        try:
            return os.lstat(self.socket_path).st_ino == self.socket_inode
        except OSError:
            return False

    async def _watch_socket(self) -> None:
        """A socket file removed (a temp cleaner, an operator) or replaced leaves this process serving
        the connections it has while no new one can reach it: exit so that the gateway starts a
        sidecar on a fresh socket, instead of an outage that looks healthy."""
        while not self.server.should_exit:
            await asyncio.sleep(SOCKET_CHECK_S)
            if not self._socket_is_ours():
                log.error(
                    "socket file removed or replaced; exiting so that the gateway restarts this sidecar",
                    extra={"socket": str(self.socket_path)},
                )
                self.exit_code = EXIT_SOCKET_LOST
                self.request_exit("socket file lost")
                return

    async def _serve(self, sock: socket.socket) -> None:
        serving = asyncio.create_task(self.server.serve(sockets=[sock]))
        while not self.server.started and not serving.done():
            await asyncio.sleep(0.01)
        if self.server.started:
            log.info("listening", extra={"socket": str(self.socket_path), "pid": os.getpid()})
            threading.Thread(target=self._load_engine, name="engine-load", daemon=True).start()
            watch = asyncio.create_task(self._watch_socket())
            serving.add_done_callback(lambda _: watch.cancel())
        await serving

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, self._on_sigterm)
        stdin_mode = os.fstat(0).st_mode if _has_stdin() else 0
        if stat.S_ISFIFO(stdin_mode) or stat.S_ISSOCK(stdin_mode) or os.isatty(0):
            threading.Thread(target=self._watch_stdin, name="stdin-watch", daemon=True).start()
        else:
            log.debug("stdin is not a pipe: lifetime bound to signals only")
        sock = _bind_unix_socket(self.socket_path)
        self.socket_inode = os.lstat(self.socket_path).st_ino
        try:
            asyncio.run(self._serve(sock))
        finally:
            self.sidecar.pipeline.shutdown()
            self.spool.remove()
            if self._socket_is_ours():  # never the socket of a successor bound on the same path
                self.socket_path.unlink(missing_ok=True)
            sock.close()
            log.info("stopped", extra={"exit_code": self.exit_code})
        return self.exit_code


def _has_stdin() -> bool:
    try:
        os.fstat(0)
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mdso_sidecar", description=__doc__)
    parser.add_argument("--service", help="engine to serve, e.g. tesseract")
    parser.add_argument("--socket", type=Path, help="Unix socket path to listen on")
    parser.add_argument(
        "--contract",
        action="store_true",
        help="print every service's options and the error types as JSON (the gateway reads it) and exit",
    )
    args = parser.parse_args(argv)
    if args.contract:
        print(json.dumps(contract()))
        return 0
    if args.service is None or args.socket is None:
        parser.error("--service and --socket are required (or --contract)")
    try:
        settings = load_settings(args.service)
        engine_class(settings.service)
    except SettingsError as exc:
        print(f"mdso-ocr sidecar: invalid setting {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"mdso-ocr sidecar: invalid setting --service: {exc.args[0]}", file=sys.stderr)
        return 2
    configure_logging(settings.service, settings.log_level)
    setproctitle(f"mdso-ocr:{settings.service}")
    _die_with_parent()
    try:
        return Runner(settings, args.socket).run()
    except SettingsError as exc:
        logging.getLogger("mdso_sidecar").error(f"invalid setting {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
