"""The upload spooled to disk: the sidecar's private spool directory, and the writer that fills one file
of it chunk by chunk, enforcing the size limit and refusing an unsupported type from its first bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path

from .errors import FileTooLarge, StorageFull
from .sniff import SNIFF_BYTES, DocumentKind, sniff

# A write failing with these means the spool's file system (or our quota on it) is full.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _storage_full() -> StorageFull:
    return StorageFull("the OCR service's disk is full; retry later")


class SpoolDir:
    """The sidecar's private directory (0700) for uploads; each file is named by a random id."""

    # The pid in the name lets a later sidecar tell the dir of a dead one (see _remove_orphans).
    PREFIX = "mdso-ocr-spool-"
    _ORPHAN = re.compile(r"^mdso-ocr-spool-(\d+)-")

    def __init__(self, base: Path | None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"{self.PREFIX}{os.getpid()}-", dir=base))
        os.chmod(self.path, 0o700)
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """A sidecar killed by SIGKILL (crash, OOM killer, hung and killed by the supervisor) cannot
        remove its dir: the upload it was reading stayed on disk for good (found by scripts/torture).
        Its restarted successor removes the dirs, ours (same uid), of sidecars no longer running."""
        for entry in os.scandir(self.path.parent):
            match = self._ORPHAN.match(entry.name)
            if match is None or entry.path == str(self.path):
                continue
            try:
                ours = entry.stat(follow_symlinks=False).st_uid == os.getuid()
                if not ours or not entry.is_dir(follow_symlinks=False):
                    continue
                os.kill(int(match.group(1)), 0)
            except ProcessLookupError:
                shutil.rmtree(entry.path, ignore_errors=True)
            except OSError:
                continue  # alive under another user (PermissionError), or already gone

    def new_file_path(self) -> Path:
        # A temp cleaner may have removed the dir of a sidecar idle for days: make it again (0700)
        # rather than fail every upload.
        if not self.path.is_dir():
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The client's filename never reaches the filesystem: no traversal, no odd characters.
        return self.path / f"{secrets.token_hex(16)}.upload"

    def entries(self) -> list[str]:
        return sorted(os.listdir(self.path))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class SpoolWriter:
    """Writes an upload chunk by chunk: enforces the size limit while reading and refuses an
    unsupported type as soon as the first bytes are in, so a 100 MB ZIP is not read to the end.
    The caller must call close() (in a finally) and unlink the path.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.size = 0
        self.kind: DocumentKind | None = None
        self._head = b""
        # O_EXCL: never follow or reuse an existing file; 0600: readable by this user only.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise _storage_full() from None
            raise
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise FileTooLarge(
                f"the file is larger than the {self.max_bytes // (1024 * 1024)} MB limit (MAX_UPLOAD_MB); "
                "split it or compress its images",
                {"limit_bytes": self.max_bytes},
            )
        if self.kind is None and len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self.kind = sniff(self._head)
        try:
            self._file.write(chunk)
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise _storage_full() from None
            raise

    def finish(self) -> DocumentKind:
        """Flush and return the sniffed type (EmptyFile / UnsupportedFileType if it is not one).
        StorageFull when the disk filled up (the buffered tail is written here)."""
        try:
            self._file.close()
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise _storage_full() from None
            raise
        if self.kind is None:
            self.kind = sniff(self._head)
        return self.kind

    def close(self) -> None:
        """Release the file. Never raises for a failed flush: the upload is being abandoned (finish()
        was not reached or failed) and its path is removed next, and an error here would replace the
        one that is being answered."""
        with contextlib.suppress(OSError):
            self._file.close()
