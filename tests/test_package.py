"""A real package: the wheel ships the scenarios, the themes and the codebook, and works installed
non-editable, run from another folder (built and installed offline: --no-deps, --no-build-isolation)."""

import shutil
import subprocess
import sys
import zipfile

from conftest import ROOT

PACKAGE = ROOT / "warroom_tui"


def test_the_wheel_ships_its_data_and_runs_from_anywhere(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src / "warroom_tui", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"),
                          str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, pattern in (("scenarios", "*.toml"), ("themes", "*.tcss"), ("judge", "*.toml"),
                            ("roles", "*.toml"), ("tasks", "*.toml")):
        shipped = {f"warroom_tui/{folder}/{p.name}" for p in (PACKAGE / folder).glob(pattern)}
        assert shipped and shipped <= names, folder

    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    subprocess.run(pip + ["install", "--no-deps", "--no-index", "--target", str(site), str(wheel)], check=True,
                   capture_output=True)
    elsewhere.mkdir()
    code = ("import sys, warroom_tui; from warroom_tui.cli import main; from warroom_tui.tui.app import theme_files;"
            "print('FROM', warroom_tui.__file__); print('THEMES', *sorted(theme_files()));"
            "sys.exit(main(['scenarios']) or main(['run', 'sim-demo', '--backend', 'sim', '--runs', '1', '--quiet'])"
            " or main(['run', 'local-debate', '--backend', 'sim', '--runs', '1', '--quiet']))")
    env = {"PYTHONPATH": str(site), "WARROOM_DB": str(tmp_path / "w.db"), "WARROOM_CACHE": str(tmp_path / "cache"),
           "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"FROM {site}" in out.stdout
    assert "THEMES dark light" in out.stdout
    assert "study-A" in out.stdout and "sim-demo" in out.stdout
