"""Research and bench tools of mdso-ocr (not shipped): `npm run bench` and `npm run eval`, their
generated inputs, and the studies behind the tesseract engine's settings. Run from the repository
root as `python -m mdso_tools.<tool>` with PYTHONPATH=tools (see each module's docstring)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository: the tools find dist/, the venvs and run/ from it."""
