"""Sidecar settings: read from the environment once at start, validated, then passed around read-only.

A bad value raises SettingsError naming the variable; __main__ turns it into one line and exit code 2.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

# Debian/Ubuntu (tesseract 5, then 4) and Fedora/Alpine layouts, in the order they are tried.
TESSDATA_CANDIDATES = (
    Path("/usr/share/tesseract-ocr/5/tessdata"),
    Path("/usr/share/tesseract-ocr/4.00/tessdata"),
    Path("/usr/share/tessdata"),
)

# <project>/models: sidecars/mdso_sidecar/settings.py -> three levels up.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models"

DEFAULT_MAX_QUEUE = 256
"""Hard bound on requests a sidecar holds (waiting ones are spool files); admission is by time."""

SHARED_SETTINGS_FILE = Path(__file__).with_name("settings.json")
"""What the gateway's config.ts reads too: boolean words, error texts, defaults and bounds of the
variables both sides read (MAX_UPLOAD_MB, MAX_PAGES, LOG_LEVEL)."""
SHARED: dict[str, Any] = json.loads(SHARED_SETTINGS_FILE.read_text(encoding="utf-8"))
TRUE_WORDS: tuple[str, ...] = tuple(SHARED["booleans"]["true"])
FALSE_WORDS: tuple[str, ...] = tuple(SHARED["booleans"]["false"])
_MESSAGES: dict[str, str] = SHARED["messages"]
_LOG_LEVEL: dict[str, Any] = SHARED["variables"]["LOG_LEVEL"]
# The gateway's level words (and their aliases) -> the logging module's names.
_PYTHON_LEVEL = {"error": "error", "warn": "warning", "info": "info", "debug": "debug"}
LOG_LEVELS: dict[str, str] = {
    word: _PYTHON_LEVEL[level]
    for word, level in [*((c, c) for c in _LOG_LEVEL["choices"]), *_LOG_LEVEL["aliases"].items()]
}

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_LANG_PART = re.compile(r"^[A-Za-z0-9_]+$")


class SettingsError(ValueError):
    """An environment variable (or CLI option) holds a value we cannot use."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class TesseractSettings:
    """Settings only the tesseract engine reads."""

    lang: str
    """Default language combination, e.g. "fra+eng" (TESSERACT_LANG)."""
    tessdata: Path
    """Directory holding <lang>.traineddata (TESSDATA_PREFIX)."""


@dataclass(frozen=True)
class Settings:
    """Everything the sidecar reads from its environment, grouped by what it governs."""

    service: str
    log_level: str
    # Limits on what one request may ask for.
    max_pages: int
    max_upload_bytes: int
    # Concurrency: worker threads for page work, and how many requests may be accepted at once.
    ocr_threads: int
    max_queue: int
    # Where the private spool directory is created (None: the system temp dir).
    tmp_base: Path | None
    tesseract: TesseractSettings
    model_dir: Path
    """Root of the local model weights (MODEL_DIR); layout in docs/MODELS.md."""
    env: Mapping[str, str]
    """A read-only copy of the environment, for engine-specific settings (validated by the engine's
    constructor, which raises SettingsError naming the variable)."""


def _problem(problem: str, raw: str) -> str:
    # The gateway's wording: "<VARIABLE> <problem> (got "<value>")".
    return f"{problem} (got {json.dumps(raw, ensure_ascii=False)})"


def int_setting(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole-number variable within [low, high] (ASCII digits, as the gateway reads them); `default`
    when unset; SettingsError naming it."""
    raw = env.get(name, "").strip()
    if raw == "":
        return default
    # Leading zeros aside, more than 18 digits is out of any range (and int() refuses 4300).
    if re.fullmatch(r"[0-9]+", raw) and len(raw.lstrip("0")) <= 18 and low <= int(raw) <= high:
        return int(raw)
    message = _MESSAGES["whole_number"].replace("{min}", str(low)).replace("{max}", str(high))
    raise SettingsError(name, _problem(message, env.get(name, "")))


def shared_int_setting(env: Mapping[str, str], name: str) -> int:
    """A whole-number variable the gateway reads too, with settings.json's default and bounds."""
    spec = SHARED["variables"][name]
    return int_setting(env, name, spec["default"], spec["min"], spec["max"])


def parse_bool(name: str, raw: str) -> bool:
    """`raw` as a boolean: true/false, 1/0, yes/no, on/off in any case (settings.json, the gateway's
    words too); SettingsError naming `name` otherwise."""
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise SettingsError(name, _problem(_MESSAGES["boolean"], raw))


def bool_setting(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean variable (see parse_bool); `default` when unset or blank."""
    raw = env.get(name, "")
    return default if raw.strip() == "" else parse_bool(name, raw)


def choice_setting(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    """One of `choices` (any case); `default` when unset or blank; SettingsError naming it."""
    raw = env.get(name, "")
    value = raw.strip().lower() or default
    if value not in choices:
        raise SettingsError(name, _problem(_MESSAGES["choice"].replace("{choices}", ", ".join(choices)), raw))
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    return int_setting(env, name, default, 1, maximum)


def _default_tessdata() -> Path:
    for candidate in TESSDATA_CANDIDATES:
        if candidate.is_dir():
            return candidate
    # None exists: keep the first so the engine reports "unavailable" naming a real, conventional place.
    return TESSDATA_CANDIDATES[0]


def usable_cpus() -> int:
    """CPUs this process may run on (respects taskset/cgroup cpusets, unlike os.cpu_count())."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def load_settings(service: str, env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `env` (default: os.environ). Raises SettingsError on the first bad value."""
    if env is None:
        env = os.environ
    if not _SERVICE_NAME.match(service):
        raise SettingsError("--service", f"expected a lowercase service name, got {service!r}")

    raw_level = env.get("LOG_LEVEL", "").strip().lower() or _LOG_LEVEL["default"]
    if raw_level not in LOG_LEVELS:
        choices = _MESSAGES["choice"].replace("{choices}", ", ".join(_LOG_LEVEL["choices"]))
        raise SettingsError("LOG_LEVEL", _problem(choices, env.get("LOG_LEVEL", "")))

    max_upload_mb = shared_int_setting(env, "MAX_UPLOAD_MB")

    queue_var = f"{service.upper().replace('-', '_')}_MAX_QUEUE"
    if env.get(queue_var, "").strip():
        max_queue = _positive_int(env, queue_var, DEFAULT_MAX_QUEUE, 100_000)
    else:
        max_queue = _positive_int(env, "SIDECAR_MAX_QUEUE", DEFAULT_MAX_QUEUE, 100_000)

    tmp_raw = env.get("SIDECAR_TMP_DIR", "").strip()
    tmp_base: Path | None = None
    if tmp_raw:
        tmp_base = Path(tmp_raw)
        if not tmp_base.is_dir():
            raise SettingsError("SIDECAR_TMP_DIR", f"{tmp_raw!r} is not an existing directory")
        if not os.access(tmp_base, os.W_OK | os.X_OK):
            raise SettingsError("SIDECAR_TMP_DIR", f"{tmp_raw!r} is not writable by this user")

    lang = env.get("TESSERACT_LANG", "").strip() or "fra+eng"
    if not all(_LANG_PART.match(part) for part in lang.split("+")):
        raise SettingsError("TESSERACT_LANG", f"expected languages joined by '+', e.g. fra+eng; got {lang!r}")
    tessdata_raw = env.get("TESSDATA_PREFIX", "").strip()
    # A missing directory is not a settings error: the engine reports "unavailable" with the fix,
    # and the process stays up so the gateway can show why.
    tessdata = Path(tessdata_raw) if tessdata_raw else _default_tessdata()

    model_dir_raw = env.get("MODEL_DIR", "").strip()
    model_dir = Path(model_dir_raw) if model_dir_raw else DEFAULT_MODEL_DIR

    return Settings(
        service=service,
        log_level=LOG_LEVELS[raw_level],
        max_pages=shared_int_setting(env, "MAX_PAGES"),
        max_upload_bytes=max_upload_mb * 1024 * 1024,
        ocr_threads=_positive_int(env, "OCR_THREADS", usable_cpus(), 1024),
        max_queue=max_queue,
        tmp_base=tmp_base,
        tesseract=TesseractSettings(lang=lang, tessdata=tessdata),
        model_dir=model_dir,
        env=MappingProxyType(dict(env)),
    )
