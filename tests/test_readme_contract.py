"""README.md is the contract with every new user: every command it shows exists, and the
Makefile targets it names either do their job or stop with a sentence saying what is missing."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.cli import main as autograder_main

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def code_block_commands():
    """Every command line of README.md's fenced code blocks, without comments and leading
    VAR=value assignments."""
    commands = []
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", README, flags=re.DOTALL):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            line = re.sub(r"^(?:[A-Z_]+=\S+\s+)+", "", line)
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def makefile_targets():
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.MULTILINE))


def test_every_make_target_the_readme_names_exists():
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", README))
    assert {"main", "test"} <= named
    assert named <= makefile_targets(), f"README names targets the Makefile lacks: {named - makefile_targets()}"


def test_every_autograder_command_in_the_readme_exists():
    subcommands = {re.split(r"\s+", command.split("autograder", 1)[1].strip())[0]
                   for command in code_block_commands() if re.search(r"(^|/)autograder\s", command)}
    assert subcommands, "README shows no autograder command"
    for subcommand in sorted(subcommands):
        with pytest.raises(SystemExit) as shown_help:
            autograder_main([subcommand, "--help"])
        assert shown_help.value.code == 0, f"`autograder {subcommand}` does not exist"


def test_every_script_in_the_readme_code_blocks_exists():
    for command in code_block_commands():
        words = command.split()
        scripts = [word for word in words if word.endswith((".sh", ".py")) and "/" in word]
        for script in scripts:
            assert (REPO / script).is_file(), f"README runs {script}, which does not exist"


def test_setup_with_a_too_old_python_stops_with_a_sentence(tmp_path):
    old_python = tmp_path / "python3.9"
    old_python.write_text("#!/bin/sh\n"
                          "case \"$*\" in *print*) echo 3.9 ;; *) exit 1 ;; esac\n")
    old_python.chmod(0o755)
    finished = subprocess.run(["bash", "scripts/check_python.sh", str(old_python)], cwd=REPO,
                              capture_output=True, text=True)
    assert finished.returncode != 0
    assert "needs Python 3.11 or newer" in finished.stderr
    assert "PYTHON=python3.11" in finished.stderr


def test_setup_with_a_missing_python_stops_with_a_sentence():
    finished = subprocess.run(["bash", "scripts/check_python.sh", "no-such-python3"], cwd=REPO,
                              capture_output=True, text=True)
    assert finished.returncode != 0
    assert "'no-such-python3' is not installed" in finished.stderr


def test_this_python_passes_the_setup_check():
    finished = subprocess.run(["bash", "scripts/check_python.sh", sys.executable], cwd=REPO,
                              capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr


@pytest.mark.parametrize("need_data, outcome", [("", "skipped"), ("1", "error")])
def test_tests_needing_data_say_how_to_get_it(tmp_path, need_data, outcome):
    """`make test-fast` on a fresh clone (no `make data`) skips them; `make test` fails them."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    env = {**os.environ, "NNKIT_DATA_DIR": str(empty), "NNKIT_TESTS_NEED_DATA": need_data}
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q",
         "tests/nnkit/test_data_utils.py::test_load_mnist_reads_the_official_test_set"],
        cwd=REPO, env=env, capture_output=True, text=True)
    assert f"1 {outcome}" in finished.stdout, finished.stdout
    assert "run `make data`" in finished.stdout
