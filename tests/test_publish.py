"""`make publish` puts the built HTML on the gh-pages branch with ghp-import: here into a local bare repository."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GHP_IMPORT = Path(sys.executable).parent / "ghp-import"
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True).stdout


def publish_flags() -> list[str]:
    """The ghp-import flags of the Makefile's publish recipe, REMOTE left as a placeholder."""
    recipe = re.search(r"^publish:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.M).group(1)
    line = next(l for l in recipe.splitlines() if "ghp-import" in l)
    return shlex.split(line.split("ghp-import", 1)[1])[:-1]  # without the folder, _build/html


@pytest.mark.skipif(not GHP_IMPORT.exists(), reason="ghp-import is in requirements.txt")
def test_publish_pushes_the_built_pages_to_gh_pages(tmp_path):
    flags = publish_flags()
    assert {"-n", "-p"} <= set(flags) and flags[flags.index("-b") + 1] == "gh-pages"
    bare = tmp_path / "remote.git"
    git("init", "--bare", "-q", str(bare), cwd=tmp_path)
    clone = tmp_path / "clone"
    clone.mkdir()
    git("init", "-q", cwd=clone)
    html = clone / "_build" / "html"  # a tiny fake book
    (html / "_static").mkdir(parents=True)
    (html / "index.html").write_text("<html><body>the book</body></html>")
    (html / "_static" / "plotly.min.js").write_text("// plotly")
    flags = [str(bare) if f == "$(REMOTE)" else f for f in flags]
    subprocess.run([str(GHP_IMPORT), *flags, "_build/html"], cwd=clone, env=GIT_ENV, check=True, capture_output=True)
    files = set(git("ls-tree", "-r", "--name-only", "gh-pages", cwd=bare).split())
    assert files == {".nojekyll", "index.html", "_static/plotly.min.js"}
    assert git("show", "gh-pages:index.html", cwd=bare) == "<html><body>the book</body></html>"
    assert git("log", "-1", "--format=%s", "gh-pages", cwd=bare).strip() == "Publish the book"
    # a second publish is one more commit on the branch, the new pages replacing the old
    (html / "index.html").write_text("<html><body>the book, again</body></html>")
    subprocess.run([str(GHP_IMPORT), *flags, "_build/html"], cwd=clone, env=GIT_ENV, check=True, capture_output=True)
    assert git("rev-list", "--count", "gh-pages", cwd=bare).strip() == "2"
    assert "again" in git("show", "gh-pages:index.html", cwd=bare)
