"""A Sphinx extension of the book's build: each page's scripts once.

sphinx-thebe adds its inline configuration (``const THEBE_JS_URL = ...``) each time Sphinx starts reading
documents, and Jupyter Book's build starts that twice, so every page declared the constant twice and its
browser logged ``Identifier 'THEBE_JS_URL' has already been declared``. This drops a script that is already on
the page (same file, same inline body) before the page is written. Listed in ``_config.yml``.
"""
from __future__ import annotations

from typing import Any


def drop_repeated_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    seen, kept = set(), []
    for script in context.get("script_files", []):
        # an inline script's file name is None or "" depending on who added it: both are written as inline
        name = str(getattr(script, "filename", script) or "")
        key = (name, tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    if "script_files" in context:
        context["script_files"][:] = kept


def setup(app: Any) -> dict:
    app.connect("html-page-context", drop_repeated_scripts, priority=900)  # after the theme added its own
    return {"parallel_read_safe": True, "parallel_write_safe": True}
