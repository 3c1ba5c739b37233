"""`make lab`: JupyterLab serves the chapters with this environment's kernel, and a chapter runs in it.

A real JupyterLab server (its own token, a free port, on localhost) on a copy of chapter 03; playwright
opens the notebook in Chromium, runs its first cells (parameters, then the validated config) against
the real kernel and reads their output. The server always stops, also when the test fails.
"""
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from l2m import figcheck

REPO = Path(__file__).resolve().parents[1]
JUPYTER = Path(sys.executable).parent / "jupyter"
pytestmark = pytest.mark.skipif(not Path(figcheck.CHROMIUM).exists() or not (Path(sys.executable).parent / "jupyter-lab").exists(),
                                reason="needs Debian's chromium and jupyterlab (requirements.txt)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """(url, token) of a JupyterLab on a copy of chapter 03; stopped and waited for afterwards."""
    root = tmp_path / "book"
    root.mkdir()
    shutil.copy(REPO / "book" / "03_gaussian.ipynb", root)  # JupyterLab saves what it runs: never the book's own
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(JUPYTER), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={token}", "--allow-root",
               f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:]) from None
                time.sleep(1)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_chapter_runs_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    url, token = lab
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=figcheck.CHROMIUM, args=figcheck.CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/lab/tree/03_gaussian.ipynb?token={token}", timeout=120_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            parameters = page.locator(".jp-Notebook .jp-CodeCell").first
            for _ in range(10):  # until the kernel has run the parameters cell: In [1]
                parameters.locator(".jp-InputPrompt").click()
                page.keyboard.press("Shift+Enter")
                page.wait_for_timeout(3_000)
                if "1" in parameters.locator(".jp-InputPrompt").inner_text():
                    break
            page.keyboard.press("Shift+Enter")  # the sentence after it
            page.keyboard.press("Shift+Enter")  # the validation cell
            output = page.locator(".jp-Notebook .jp-CodeCell").nth(1).locator(".jp-OutputArea-output")
            try:
                output.first.wait_for(timeout=120_000)
            finally:
                page.screenshot(path=str(Path(os.environ.get("L2M_LAB_SHOT", "/tmp/l2m-lab.png"))))
            text = output.first.inner_text()
            assert "GaussianChapter" in text and "layers=6" in text.replace(" ", "")
            errors = page.locator(".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert errors.count() == 0 or "Error" not in errors.all_inner_texts()[0]
        finally:
            browser.close()
