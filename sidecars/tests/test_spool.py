"""The spool: a private directory for uploads, orphans of dead sidecars removed, the size limit and the
type enforced while an upload is written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mdso_sidecar.errors import FileTooLarge, UnsupportedFileType
from mdso_sidecar.spool import SpoolDir, SpoolWriter


def test_spool_writer_limits_and_early_refusal(tmp_path: Path) -> None:
    spool = SpoolDir(tmp_path)
    assert (spool.path.stat().st_mode & 0o777) == 0o700
    path = spool.new_file_path()
    writer = SpoolWriter(path, max_bytes=2048)
    with pytest.raises(FileTooLarge):
        writer.write(b"%PDF-1.7\n" + bytes(1500))
        writer.write(bytes(1500))
    writer.close()
    path.unlink()
    # A ZIP is refused after its first 1024 bytes, before the rest is read.
    path = spool.new_file_path()
    writer = SpoolWriter(path, max_bytes=10**9)
    with pytest.raises(UnsupportedFileType):
        writer.write(b"PK\x03\x04" + bytes(2000))
    writer.close()
    assert (path.stat().st_mode & 0o777) == 0o600
    path.unlink()
    spool.remove()
    assert not spool.path.exists()


def test_spool_dir_removes_dirs_of_dead_sidecars(tmp_path: Path) -> None:
    # A sidecar killed with SIGKILL leaves its spool dir (and the upload it was reading) behind:
    # the next sidecar on the same base removes it, and leaves the dirs of running ones alone.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    orphan = tmp_path / f"mdso-ocr-spool-{int(dead.stdout)}-abc"
    orphan.mkdir()
    (orphan / "x.upload").write_bytes(b"%PDF-")
    living = tmp_path / f"mdso-ocr-spool-{os.getppid()}-def"
    living.mkdir()
    unrelated = tmp_path / "mdso-ocr-123456"  # the gateway's run dir has a similar name
    unrelated.mkdir()
    spool = SpoolDir(tmp_path)
    try:
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == sorted([living.name, unrelated.name, spool.path.name])
    finally:
        spool.remove()


def test_spool_dir_removed_by_a_temp_cleaner_is_made_again(tmp_path: Path) -> None:
    spool = SpoolDir(tmp_path)
    shutil.rmtree(spool.path)
    path = spool.new_file_path()
    writer = SpoolWriter(path, 1024)
    writer.write(b"%PDF-1.4\n")
    writer.close()
    assert path.exists()
    assert spool.path.stat().st_mode & 0o777 == 0o700
