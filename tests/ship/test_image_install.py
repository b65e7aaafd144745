"""The image's install step, without Docker: the Dockerfile's pip commands in a fresh venv, on the build context
that .dockerignore lets through, then the installed command run from that venv.

pip's cache is reused (the Dockerfile turns it off only to keep the image small). The fresh-venv test takes about
30 s with a warm or a cold cache, so it carries no `slow` mark and runs with the rest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from ship.rendering import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = ROOT / "requirements.lock"
HARNESS = ("kpi_operator_devtools", "kpi_operator/devtools", "kpi_operator/demo", "prometheus_server", "synthetic_exporter")


def pip_steps() -> list[str]:
    """The Dockerfile's RUN commands that call pip, in order (the venv itself is made by the test)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(r"^RUN\s+(.*)$", text, re.MULTILINE) if re.search(r"\bpip\b", m.group(1))]


def build_context(destination: Path) -> Path:
    """The files .dockerignore lets into the build: it ignores everything (`*`) and re-includes a few paths."""
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", ".dockerignore must start from nothing and list what the image needs"
    included = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    destination.mkdir(parents=True)
    for name in included:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        elif source.exists():
            shutil.copy2(source, destination / name)
    return destination


def run(command: list[str] | str, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, shell=isinstance(command, str))
    assert result.returncode == 0, f"{command!r} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_the_dockerfile_installs_the_lock_then_the_project_without_resolving() -> None:
    steps = pip_steps()
    assert steps[0] == "pip install -r requirements.lock"
    assert steps[1].startswith("pip install --no-deps .")
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE), "slim Python base, no registry host"
    assert not re.search(r"^FROM\s+\S+/", text, re.MULTILINE), "no registry host or namespace in FROM"
    assert re.search(r"^USER 65532:65532$", text, re.MULTILINE)
    assert 'ENTRYPOINT ["kpi-operator", "run"]' in text


def test_the_lock_pins_every_runtime_dependency_exactly() -> None:
    pins = [line for line in LOCK.read_text().splitlines() if line and not line.startswith("#")]
    assert pins, "requirements.lock is empty"
    for pin in pins:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-]+", pin), f"not an exact pin: {pin}"
    names = {re.split("==", pin)[0].lower().replace("_", "-") for pin in pins}
    assert {"kopf", "pydantic", "kubernetes-asyncio", "promql-parser", "prometheus-api-client", "prometheus-client", "pyyaml"} <= names
    assert "kpi-operator" not in names


@pytest.mark.timeout(900)
@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="requirements.lock and the image are for Python 3.11 (python:3.11-slim)")
def test_the_image_install_step_works_in_a_fresh_venv(tmp_path: Path) -> None:
    context = build_context(tmp_path / "context")
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(environment)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_NO_CACHE", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(PATH=f"{environment / 'bin'}{os.pathsep}{env.get('PATH', '')}", PIP_DISABLE_PIP_VERSION_CHECK="1", VIRTUAL_ENV=str(environment))
    for step in pip_steps():
        run(step, cwd=context, env=env)

    frozen = run([str(environment / "bin" / "pip"), "freeze", "--exclude", "kpi-operator"], cwd=context, env=env).stdout
    locked = [line for line in LOCK.read_text().splitlines() if line and not line.startswith("#")]
    assert sorted(frozen.lower().split()) == sorted(pin.lower() for pin in locked), "the venv holds exactly the lock"

    command = str(environment / "bin" / "kpi-operator")
    help_text = run([command, "--help"], cwd=ROOT, env=env).stdout
    assert "run" in help_text and "validate" in help_text
    validated = run([command, "validate", "-f", "examples/"], cwd=ROOT, env=env)
    assert re.search(r"^\d+ document\(s\) valid$", validated.stdout, re.MULTILINE), validated.stdout
    installed_from = run([str(environment / "bin" / "python"), "-c", "import kpi_operator; print(kpi_operator.__file__)"], cwd=tmp_path, env=env).stdout
    assert installed_from.startswith(str(environment)), "the command ran from the fresh venv, not the checkout"
    assert_no_harness(context, environment, env)


def assert_no_harness(context: Path, environment: Path, env: dict[str, str]) -> None:
    """The stand-ins (the emulated API, the local Prometheus, the synthetic exporter, the demo) are a distribution of
    their own that the image never installs: not in the build context, not in the venv, and kmock not either."""
    assert not (context / "devtools").exists(), ".dockerignore lets devtools/ into the build context"
    python = str(environment / "bin" / "python")
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=context, env=env).stdout.strip())
    installed = [path.relative_to(purelib).as_posix() for path in purelib.rglob("*") if "__pycache__" not in path.parts]
    found = sorted(path for path in installed if any(name in path for name in HARNESS))
    assert not found, f"the image would hold the devtools harness: {found}"
    kmock = subprocess.run([python, "-c", "import kmock"], cwd=context, env=env, capture_output=True, text=True, timeout=60)
    assert kmock.returncode != 0 and "ModuleNotFoundError" in kmock.stderr, "kmock is installed in the image's venv"
    demo = subprocess.run([str(environment / "bin" / "kpi-operator"), "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert demo.returncode == 2, demo.stdout + demo.stderr
    assert "kpi-operator-devtools" in demo.stderr and "pip install -e ./devtools" in demo.stderr, demo.stderr
