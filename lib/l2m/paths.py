"""Where the book lives: the repository root and the build folders, in one place.

Imports nothing of l2m, so any module may import it (the package is installed editable, so the
repository is two folders above this file).
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
BUILD = ROOT / "_build"
STAGE = BUILD / "src"  # the source tree Jupyter Book reads: executed notebooks, pages, config
