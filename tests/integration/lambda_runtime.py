"""The deployed artifacts, run as Lambda runs them: the built layer, the runtime's SDK, a fresh interpreter.

- ``lambda_python()``: a CPython of the template's runtime version (``python3.12``):
  ``HYPERSTEP_LAMBDA_PYTHON``, else a working ``python3.12`` on PATH, else pyenv's newest
  3.12 (a pyenv shim on PATH fails when 3.12 is not the active version).
- ``built_layer()``: ``layers/hyperstep/build_layer.sh`` for the host's architecture with
  that Python's bytecode, as ``sam build`` runs it (no zip); cached under ``build/`` by a
  hash of everything it is built from (requirements, library sources, build script).
- ``runtime_sdk()``: boto3 and botocore at the version the Lambda runtime ships, in a
  folder of their own standing for the runtime's (the layer ships none).
- ``function_environment()``: a function's variables as the template sets them.
- ``LambdaProcess``: one execution environment: ``lambda_bootstrap.py`` in a fresh
  interpreter with only the function's folder, the layer and the SDK importable; one
  cold start, then any number of invocations.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import select
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.unit.test_template import resources, template

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
LAYER_SOURCE = REPO / "layers" / "hyperstep"
BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
KEEP_BUILDS = 3
"""Layers kept in ``build/`` (about 180 MB each)."""

RUNTIME_SDK = ("boto3==1.38.36", "botocore==1.38.36")
"""The SDK of Lambda's python3.12 runtime. AWS documents no version ("it depends on the
runtime version and your AWS Region": ask a function for ``boto3.__version__``); 1.38.36 is
what python3.12 reported in August 2025 (terricain/aioboto3#381). Older than the boto3 the
tests run with: an API parameter newer than the runtime's botocore fails here as in Lambda."""


def runtime_version() -> str:
    """The Python version of the template's ``Runtime`` (``python3.12`` -> ``3.12``)."""
    runtime = template()["Globals"]["Function"]["Runtime"]
    match = re.fullmatch(r"python(3\.\d+)", runtime)
    assert match, f"not a Python runtime: {runtime}"
    return match.group(1)


def layer_arch() -> str:
    """The host's architecture in Lambda's words (the layer is built for the host to run here)."""
    machine = platform.machine().lower()
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[machine]


# ---- the runtime's interpreter ---------------------------------------------------------


def _is_cpython(python: str | Path, version: str) -> bool:
    probe = "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"
    try:
        run = subprocess.run([str(python), "-I", "-c", probe], capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return run.returncode == 0 and run.stdout.split() == ["cpython", version]


def _pyenv_root() -> Path:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        run = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30)
        if run.returncode == 0 and run.stdout.strip():
            return Path(run.stdout.strip())
    return Path.home() / ".pyenv"


def _release(path: Path) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.]", path.parents[1].name))


def lambda_python(version: str) -> Path | None:
    """A CPython ``version`` interpreter (see the module docstring), or None."""
    candidates: list[str | Path] = []
    if os.environ.get("HYPERSTEP_LAMBDA_PYTHON"):
        candidates.append(os.environ["HYPERSTEP_LAMBDA_PYTHON"])
    if found := shutil.which(f"python{version}"):
        candidates.append(found)
    pyenv = sorted(_pyenv_root().glob(f"versions/{version}.*/bin/python{version}"), key=_release, reverse=True)
    candidates += pyenv
    for candidate in candidates:
        if _is_cpython(candidate, version):
            return Path(candidate)
    return None


# ---- the layer and the runtime's SDK, built once per set of inputs ---------------------


def _digest(*parts: bytes | str) -> str:
    sha = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        sha.update(len(data).to_bytes(8, "little") + data)
    return sha.hexdigest()[:16]


def layer_inputs() -> list[Path]:
    """What the layer is built from: the build script, requirements and the library sources."""
    library = (p for p in (LAYER_SOURCE / "hyperstep").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return [LAYER_SOURCE / "build_layer.sh", LAYER_SOURCE / "requirements.txt", *sorted(library)]


def _last_used(folder: Path) -> float:
    marker = folder / ".complete"
    return marker.stat().st_mtime if marker.exists() else 0.0


def _cached(kind: str, key: str, build: Callable[[Path], None]) -> Path:
    """``build/<kind>-<key>``, made by ``build(folder)`` unless a complete one is there; of
    the ``<kind>-*`` folders only the ``KEEP_BUILDS`` last used stay (switching branches
    back and forth rebuilds nothing). One builder at a time (a lock)."""
    BUILD.mkdir(exist_ok=True)
    target, staging = BUILD / f"{kind}-{key}", BUILD / f".{kind}.building"
    with (BUILD / f".{kind}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".complete").exists():
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            build(staging)
            (staging / ".complete").touch()
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        (target / ".complete").touch()  # its mtime says when it was last used
        for old in sorted(BUILD.glob(f"{kind}-*"), key=_last_used)[:-KEEP_BUILDS]:
            shutil.rmtree(old, ignore_errors=True)
    return target


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    if run.returncode != 0:
        raise RuntimeError(f"{what} failed ({run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}")


def built_layer(python: Path) -> Path:
    """The layer's ``python/`` folder, built by the project's build script (see the module docstring)."""
    version, arch = runtime_version(), layer_arch()
    inputs = [f"{p.relative_to(REPO)}\n".encode() + p.read_bytes() for p in layer_inputs()]
    key = _digest(arch, version, *inputs)

    def build(folder: Path) -> None:
        env = {
            **os.environ,
            "LAYER_ARCH": arch,
            "LAYER_PYTHON": version,
            "LAYER_ZIP": "0",
            "BYTECODE_PYTHON": str(python),
            "PYTHON": sys.executable,  # its pip installs the wheels for the runtime's platform
        }
        _run(["bash", str(LAYER_SOURCE / "build_layer.sh"), str(folder / "layer")], env, "build_layer.sh")

    return _cached(f"lambda-layer-{arch}-py{version}", key, build) / "layer" / "python"


def runtime_sdk(python: Path) -> Path:
    """boto3 and botocore as the runtime has them (``RUNTIME_SDK``), with its bytecode."""
    version = runtime_version()

    def build(folder: Path) -> None:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
        pip += ["--only-binary=:all:", "--python-version", version, "--implementation", "cp"]
        _run([*pip, "--target", str(folder / "sdk"), *RUNTIME_SDK], dict(os.environ), "pip install of the SDK")
        _run([str(python), "-m", "compileall", "-q", str(folder / "sdk")], dict(os.environ), "compileall")

    return _cached(f"lambda-runtime-sdk-py{version}", _digest(version, *RUNTIME_SDK), build) / "sdk"


# ---- the functions as the template deploys them -------------------------------------


@dataclass(frozen=True)
class Function:
    """One ``AWS::Serverless::Function`` of the template."""

    logical_id: str
    folder: Path
    handler: str
    memory_mb: int
    timeout_s: int
    variables: dict[str, Any]
    """``Environment.Variables``: the Globals' and its own, values as written (intrinsics too)."""

    @property
    def name(self) -> str:
        return self.folder.name


def functions() -> dict[str, Function]:
    """The template's functions by folder name (``api``, ``suggest``, ...)."""
    defaults = template()["Globals"]["Function"]
    found = {}
    for logical_id, resource in resources("AWS::Serverless::Function").items():
        props = {**defaults, **resource["Properties"]}
        variables = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **resource["Properties"].get("Environment", {}).get("Variables", {}),
        }
        folder = REPO / props["CodeUri"]
        found[folder.name] = Function(
            logical_id, folder, props["Handler"], int(props["MemorySize"]), int(props["Timeout"]), variables
        )
    return found


def _resolve(value: Any, known: dict[str, str]) -> str | None:
    """A literal, or a ``Ref`` / ``Fn::Sub`` over ``known`` names (pseudo parameters and
    parameters' defaults); None for anything else (a resource's attribute, a condition)."""
    if not isinstance(value, dict):
        return str(value)
    if set(value) == {"Ref"}:
        return known.get(value["Ref"])
    if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        names = re.findall(r"\$\{([^}!]+)\}", value["Fn::Sub"])
        if all(name in known for name in names):
            return re.sub(r"\$\{([^}!]+)\}", lambda m: known[m.group(1)], value["Fn::Sub"])
    return None


def function_environment(function: Function, deployed: dict[str, str], pseudo: dict[str, str]) -> dict[str, str]:
    """The function's variables resolved: ``deployed`` values by variable name (what stands
    for the template's own resources), else literals, parameters' defaults and ``pseudo``
    parameters (``AWS::Region``...); a variable the test deployment cannot resolve is an
    error, not a silent gap."""
    defaults = {k: str(v["Default"]) for k, v in template().get("Parameters", {}).items() if "Default" in v}
    known = {**defaults, **pseudo}
    env = {}
    for name, value in function.variables.items():
        resolved = deployed.get(name, _resolve(value, known))
        if resolved is None:
            raise AssertionError(f"{function.logical_id}: give {name} ({value}) a value in the test deployment")
        env[name] = resolved
    return env


# ---- one execution environment ---------------------------------------------------------


@dataclass
class Paths:
    """What a function's execution environment is made of."""

    python: Path
    layer: Path
    sdk: Path


class LambdaProcess:
    """A fresh interpreter running ``lambda_bootstrap.py`` for one function (a context manager).

    ``cold_start`` is the bootstrap's report; ``invoke`` sends an event and returns the reply;
    ``output()`` is what the function printed (its logs), for failure messages.
    """

    def __init__(self, function: Function, paths: Paths, environment: dict[str, str], workdir: Path) -> None:
        self.function = function
        self.paths = paths
        self.environment = environment
        self.log_path = workdir / f"{function.name}.log"
        self.task_root = workdir / f"task-{function.name}"
        """The function's folder as deployed (``/var/task``): a copy, so nothing around it in the repo is reachable."""
        self.reply_timeout_s = 120.0
        self.cold_start: dict[str, Any] = {}
        self._buffer = b""

    @property
    def function_name(self) -> str:
        return f"hyperstep-{self.function.name}"

    def lambda_env(self) -> dict[str, str]:
        """The runtime's own variables, then the function's (credentials, region and endpoint
        come with ``environment``)."""
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "_HANDLER": self.function.handler,
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "LAMBDA_RUNTIME_DIR": str(self.paths.sdk),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{runtime_version()}",
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"2026/11/26/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            **self.environment,
        }

    def __enter__(self) -> LambdaProcess:
        shutil.copytree(self.function.folder, self.task_root, ignore=shutil.ignore_patterns("__pycache__"))
        self._reader, write_end = os.pipe()
        self._log = self.log_path.open("w")
        command = [str(self.paths.python), "-I", "-S", "-B", str(BOOTSTRAP)]
        command += [str(self.task_root), str(self.paths.layer), str(self.paths.sdk), str(write_end)]
        try:
            self._process = subprocess.Popen(
                command,
                env=self.lambda_env(),
                cwd=self.task_root,  # Lambda's working directory is /var/task
                stdin=subprocess.PIPE,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_end,),
                text=True,
            )
        finally:
            os.close(write_end)
        try:
            self.cold_start = self._reply()
        except BaseException:
            self.__exit__()
            raise
        return self

    def invoke(self, event: dict[str, Any], region: str, account: str) -> dict[str, Any]:
        """One invocation: the reply ``{"ok": True, "result": ...}`` or the runtime's error object."""
        arn = f"arn:aws:lambda:{region}:{account}:function:{self.function_name}"
        request = {"event": event, "invoked_function_arn": arn, "timeout_s": self.function.timeout_s}
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        return self._reply()

    def _reply(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.reply_timeout_s
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._reader], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                raise AssertionError(f"{self.function.name}: no reply in {self.reply_timeout_s:g} s\n{self.output()}")
            chunk = os.read(self._reader, 1 << 16)
            if not chunk:
                raise AssertionError(f"{self.function.name}: the interpreter exited\n{self.output()}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def output(self, tail: int = 6000) -> str:
        """The end of what the function printed (logs, metrics, warnings)."""
        self._log.flush()
        return self.log_path.read_text()[-tail:]

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._process.stdin.close()  # type: ignore[union-attr]
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._reader)
        self._log.close()
