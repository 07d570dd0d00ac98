"""deploy/Containerfile, read (no container engine runs here): built from the wheel, non-root,
the entry point the package declares, and the image the manifests name."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from ticketbridge import __version__

ROOT = Path(__file__).parents[2]
CONTAINERFILE = (ROOT / "deploy" / "Containerfile").read_text(encoding="utf-8")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", CONTAINERFILE)
    found = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    split: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            split.append([])
        split[-1].append(instruction)
    return split


def test_the_build_stage_makes_a_wheel_and_the_runtime_installs_only_it() -> None:
    build, runtime = stages()
    assert any(k == "RUN" and "pip wheel" in a and "--wheel-dir /wheels" in a for k, a in build)
    copies = [a for k, a in runtime if k == "COPY"]
    assert copies == ["--from=build /wheels /wheels"]  # no source tree in the image
    (install,) = [a for k, a in runtime if k == "RUN" and "pip install" in a]
    assert "--no-index --find-links /wheels ticketbridge" in install
    for keyword, arguments in build:
        if keyword == "COPY":  # what the build copies from the source tree exists in it
            for name in arguments.split()[:-1]:
                assert (ROOT / name).exists(), name


def test_the_python_it_runs_satisfies_requires_python() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    minimum = re.search(r">=\s*3\.(\d+)", pyproject["project"]["requires-python"])
    assert minimum is not None
    for stage in stages():
        image = stage[0][1].split()[0]
        version = re.search(r"python:3\.(\d+)", image)
        assert version is not None and int(version.group(1)) >= int(minimum.group(1)), image


def test_it_runs_as_the_non_root_user_the_manifests_require() -> None:
    runtime = stages()[-1]
    (user,) = [a for k, a in runtime if k == "USER"]
    uid = int(user.split(":")[0])  # numeric: runAsNonRoot can check it
    assert uid != 0
    for path in (ROOT / "deploy" / "kubernetes").rglob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document["kind"] == "CronJob":
                pod = document["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                assert pod["securityContext"]["runAsUser"] == uid, path


def test_the_entry_point_is_the_packages_console_script() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "ticketbridge" in pyproject["project"]["scripts"]
    (entrypoint,) = [a for k, a in stages()[-1] if k == "ENTRYPOINT"]
    assert entrypoint == '["ticketbridge"]'


def test_the_manifests_name_this_image_at_this_version() -> None:
    named = re.search(r"the manifests in kubernetes/ run: (\S+)", CONTAINERFILE)
    assert named is not None
    assert named.group(1).endswith(f":{__version__}")
    for path in (ROOT / "deploy" / "kubernetes").rglob("*.yaml"):
        images = re.findall(r"image: (\S+)", path.read_text(encoding="utf-8"))
        assert all(image == named.group(1) for image in images), path


def test_no_secret_is_baked_in() -> None:
    for keyword, arguments in instructions():
        if keyword in ("ENV", "ARG"):
            assert not re.search(r"TOKEN|KEY|SECRET|PASSWORD|WEBHOOK", arguments), arguments
        assert keyword != "ADD"  # nothing fetched at build time from a URL
