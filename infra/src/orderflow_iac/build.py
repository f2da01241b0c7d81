"""`python -m orderflow_iac.build SERVICE`: a deployable bundle of one service, built alone.

Lambda needs each function's code with its dependencies for the runtime in the template
(python3.13 on arm64). This builds that folder from the lock file, whatever machine it runs on,
and writes a copy of the service's template pointing at it, ready for
`sam deploy --template-file build/<service>/template.json`.

The bundle ships its bytecode, compiled by a Python of the runtime's version (bytecode is read only
by the version that wrote it): found by uv, or named in ORDERFLOW_LAMBDA_PYTHON. Without one the
bundle is built without it, and every cold start compiles each module it imports.

`sam build` makes each function's artifact from the same bundle: every function's Metadata names
`BuildMethod: makefile`, and infra/samcli/Makefile runs `python -m orderflow_iac.build SERVICE
--code-into $ARTIFACTS_DIR` for it (function_code below). So `sam build` needs no Python of the
runtime's version on PATH, nor Docker, and a function deploys the same code either way.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orderflow_iac.stacks import REPO_ROOT, SERVICES

# Architectures: [arm64]. The python3.13 runtime runs on Amazon Linux 2023 (glibc 2.34), so manylinux_2_28
# wheels run there; some packages ship no older ones for aarch64 (pillow 13: invoicing's PDFs).
LAMBDA_PLATFORM = "aarch64-manylinux_2_28"
LAMBDA_PYTHON = "3.13"  # Runtime: python3.13
DEFAULT_OUTPUT = REPO_ROOT / "build"
SHARED_PACKAGE = REPO_ROOT / "shared" / "src" / "orderflow_shared"
# Local builds' bytecode is for the workspace's Python, not the runtime's.
NOT_SHIPPED = shutil.ignore_patterns("__pycache__", "*.pyc")


def _uv() -> str:
    return os.environ.get("UV") or shutil.which("uv") or str(REPO_ROOT / ".tools" / "bin" / "uv")


def _run(*command: str) -> None:
    subprocess.run(command, check=True, cwd=REPO_ROOT)  # noqa: S603 - fixed commands, our own paths


def build(service: str, output: Path) -> Path:
    service_root = REPO_ROOT / "services" / service
    bundle = output / service
    shutil.rmtree(bundle, ignore_errors=True)
    code = bundle / "function"
    code.mkdir(parents=True)
    requirements = bundle / "requirements.txt"
    # Third-party pins of this service alone, from the one lock file of the workspace.
    _run(
        _uv(), "export", "--quiet", "--frozen", "--no-dev", "--no-hashes", "--no-header",
        "--no-emit-workspace", "--package", f"orderflow-{service}", "--output-file", str(requirements),
    )  # fmt: skip
    _run(
        _uv(), "pip", "install", "--quiet", "--target", str(code), "--python-platform", LAMBDA_PLATFORM,
        "--python-version", LAMBDA_PYTHON, "--only-binary", ":all:", "--requirement", str(requirements),
    )  # fmt: skip
    shutil.copytree(service_root / "src" / service, code / service, ignore=NOT_SHIPPED)
    shutil.copytree(SHARED_PACKAGE, code / "orderflow_shared", ignore=NOT_SHIPPED)
    interpreter = lambda_python()
    if interpreter is None:
        print(
            f"warning: no Python {LAMBDA_PYTHON} found (uv python find {LAMBDA_PYTHON}, or set "
            "ORDERFLOW_LAMBDA_PYTHON): the bundle ships without bytecode",
            file=sys.stderr,
        )
    else:
        compile_bytecode(code, interpreter)
    # Imported here: the SAM translator's import is slow, and --code-into does without it.
    from orderflow_local.templates import load_template

    template = _point_at_bundle(load_template(service_root / "template.yaml"), service_root, bundle)
    (bundle / "template.json").write_text(json.dumps(template, indent=2))
    return bundle


def function_code(service: str, into: Path, output: Path = DEFAULT_OUTPUT) -> Path:
    """The bundle's code, as the artifact of one of the service's functions (``sam build``).

    `sam build` builds every function on its own, and a service's functions share one bundle: it is
    built once into ``output/<service>`` and reused while what goes into it is unchanged (the
    fingerprint below), then linked (or copied) into ``into``, the function's ARTIFACTS_DIR. A lock
    keeps two parallel builds of the same service from building the bundle at once.
    """
    output.mkdir(parents=True, exist_ok=True)
    bundle = output / service
    stamp = bundle / "fingerprint"
    with _locked(output / f".{service}.lock"):
        fingerprint = bundle_fingerprint(service)
        if not (stamp.exists() and stamp.read_text() == fingerprint and (bundle / "function").is_dir()):
            build(service, output)
            stamp.write_text(fingerprint)
        shutil.copytree(bundle / "function", into, dirs_exist_ok=True, copy_function=_link_or_copy)
    return into


def bundle_fingerprint(service: str) -> str:
    """A digest of everything a bundle is built from: the lock file, the service's package and the
    shared package, this builder, and ORDERFLOW_LAMBDA_PYTHON. Not what `uv python find` would find (a
    third of a second, for each function): a Python 3.13 installed since the bundle was built gives
    it bytecode on the next change, or at once with ORDERFLOW_LAMBDA_PYTHON or `make build`."""
    digest = hashlib.sha256()
    digest.update(f"{LAMBDA_PLATFORM} {LAMBDA_PYTHON} {os.environ.get('ORDERFLOW_LAMBDA_PYTHON')}\n".encode())
    digest.update(hashlib.sha256(Path(__file__).read_bytes()).digest())  # this builder
    sources = [REPO_ROOT / "uv.lock"]
    for package in (REPO_ROOT / "services" / service / "src" / service, SHARED_PACKAGE):
        sources += sorted(
            path
            for path in package.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        )
    for path in sources:
        digest.update(f"{path.relative_to(REPO_ROOT).as_posix()}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _link_or_copy(source: str, target: str) -> None:
    # A hard link costs neither time nor space; another file system gets a copy.
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def lambda_python() -> str | None:
    """An interpreter of the Lambda runtime's Python version, if this machine has one."""
    return os.environ.get("ORDERFLOW_LAMBDA_PYTHON") or _found_lambda_python()


@functools.cache
def _found_lambda_python() -> str | None:
    found = subprocess.run(  # noqa: S603 - fixed command
        [_uv(), "python", "find", "--no-project", LAMBDA_PYTHON],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    if found.returncode != 0 or not found.stdout.strip():
        return None
    return found.stdout.strip()


def compile_bytecode(code: Path, interpreter: str) -> None:
    """Compiles every module under ``code`` with ``interpreter``, so a cold start loads bytecode.

    Unchecked hashes: a bundle never changes once built, and its sources' modification times, which
    timestamp-checked bytecode is matched against, need not survive packaging (a zip keeps them to two
    seconds); a mismatch would have Python compile again on every cold start, the code folder being
    read-only.
    """
    _run(interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(code))


def _point_at_bundle(template: dict[str, Any], service_root: Path, bundle: Path) -> dict[str, Any]:
    sections = [template.get("Globals", {}).get("Function", {})]
    sections += [resource.get("Properties", {}) for resource in template.get("Resources", {}).values()]
    for properties in sections:
        if isinstance(properties.get("CodeUri"), str):
            properties["CodeUri"] = "function/"
        # A SAM state machine's DefinitionUri, or a plain one's DefinitionS3Location, as a local file.
        definition = properties.get("DefinitionUri") or properties.get("DefinitionS3Location")
        if isinstance(definition, str):
            target = bundle / definition
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(service_root / definition, target)
    return template


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--code-into",
        type=Path,
        metavar="ARTIFACTS_DIR",
        help="put the bundle's code into this folder (a function's artifact, for sam build) and stop",
    )
    args = parser.parse_args()
    if args.code_into is not None:
        function_code(args.service, args.code_into, args.output)
        return 0
    bundle = build(args.service, args.output)
    template = bundle / "template.json"
    print(f"built {bundle}: sam deploy --template-file {template} --stack-name orderflow-{args.service}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
