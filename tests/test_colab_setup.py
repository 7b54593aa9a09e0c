"""The Colab branch of the notebooks' first cell, run with a stand-in for google.colab.

The stand-in's drive.mount(mountpoint) mounts a temporary folder, the fake "My Drive",
at mountpoint/MyDrive, as Colab mounts the student's Drive. The cell's mount point,
/content/drive, is moved under the test's temporary folder; nothing else of the cell
changes. Data comes from the repository's datasets/ through NNKIT_DATA_SOURCE, the local
source get_datasets.sh accepts (no network here).
"""
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from autograder.manifest import load_manifest, manifest_path

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "release" / "fcnet"
MANIFEST = load_manifest(manifest_path(REPO, "fcnet"))
COLAB_MOUNT_POINT = "/content/drive"
STAND_IN = '''
import os, sys, types

def mount(mountpoint, force_remount=False):
    """Mount the fake My Drive at mountpoint/MyDrive, as Colab mounts the real one."""
    os.makedirs(mountpoint, exist_ok=True)
    if not os.path.exists(os.path.join(mountpoint, "MyDrive")):
        os.symlink({my_drive!r}, os.path.join(mountpoint, "MyDrive"))
    print("Mounted at", mountpoint)

drive = types.ModuleType("google.colab.drive")
drive.mount = mount
colab = types.ModuleType("google.colab")
colab.drive = drive
google = types.ModuleType("google")
google.colab = colab
sys.modules.update({{"google": google, "google.colab": colab, "google.colab.drive": drive}})
'''


def setup_cell(notebook_name: str, content: Path, foldername: str | None = None) -> str:
    """The first code cell of a release notebook, its mount point moved under `content`."""
    cell = next(cell for cell in nbformat.read(RELEASE / notebook_name, as_version=4).cells
                if cell.cell_type == "code").source
    assert cell.count(COLAB_MOUNT_POINT) == 2  # drive.mount(...) and My Drive under it
    cell = cell.replace(COLAB_MOUNT_POINT, str(content / "drive"))
    if foldername is not None:  # what a student edits
        cell = cell.replace(f'FOLDERNAME = "{MANIFEST.colab_folder}"', f'FOLDERNAME = "{foldername}"')
    return cell


def put_release_in(my_drive: Path, folder: str) -> Path:
    target = my_drive / folder
    shutil.copytree(RELEASE, target, ignore=shutil.ignore_patterns(*MANIFEST.local_only_patterns))
    (target / "datasets").mkdir(exist_ok=True)
    shutil.copy2(RELEASE / "datasets" / "get_datasets.sh", target / "datasets" / "get_datasets.sh")
    return target


@pytest.mark.slow
def test_in_colab_the_first_cell_fetches_the_data_and_nnkit_imports_from_drive(tmp_path,
                                                                                 datasets_dir):
    my_drive, content = tmp_path / "gdrive", tmp_path / "content"
    content.mkdir()
    folder = put_release_in(my_drive, MANIFEST.colab_folder)
    imports = next(cell.source for cell in nbformat.read(RELEASE / "FullyConnectedNets.ipynb",
                                                         as_version=4).cells
                   if cell.cell_type == "code" and "import" in cell.source and "FOLDERNAME" not in cell.source)
    checks = f'''
import os, sys, nnkit
from nnkit.data_utils import get_CIFAR10_data, load_mnist
folder = os.path.realpath({str(folder)!r})
assert os.path.realpath(os.getcwd()) == folder, os.getcwd()
assert any(os.path.realpath(path) == folder for path in sys.path), sys.path
assert os.path.realpath(nnkit.__file__).startswith(folder + os.sep), nnkit.__file__
data = get_CIFAR10_data(num_training=1000, num_validation=100, num_test=100)
assert data["X_train"].shape == (1000, 3, 32, 32), data["X_train"].shape
images, labels = load_mnist("test")
assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
print("imports and data work from", folder)
'''
    notebook = new_notebook(cells=[new_code_cell(STAND_IN.format(my_drive=str(my_drive))),
                                   new_code_cell(setup_cell("FullyConnectedNets.ipynb", content)),
                                   new_code_cell(imports), new_code_cell(checks)])
    env = {key: value for key, value in os.environ.items()
           if key not in ("NNKIT_DATA_DIR", "PYTHONPATH")}
    env.update({"NNKIT_DATA_SOURCE": str(datasets_dir), "MPLBACKEND": "Agg",
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"})
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(content)}})
    client.execute(env=env)  # raises CellExecutionError, naming the cell, if anything fails

    assert (folder / "datasets" / "cifar-10-batches-py" / "data_batch_1").is_file()
    assert list((folder / "datasets" / "mnist").glob("t10k-*.gz"))
    assert "imports and data work from" in notebook.cells[-1].outputs[-1]["text"]
    # A second run (another notebook, the next day) finds the data and fetches nothing.
    fetched = data_files(folder / "datasets")
    rerun = new_notebook(cells=[new_code_cell(STAND_IN.format(my_drive=str(my_drive))),
                                new_code_cell(setup_cell("Optimizers.ipynb", content))])
    NotebookClient(rerun, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(content)}}).execute(env=env)
    assert data_files(folder / "datasets") == fetched
    said = "".join(output.get("text", "") for output in rerun.cells[1].outputs)
    for dataset in ("CIFAR-10:", "MNIST:"):
        assert re.search(f"^{dataset}.*nothing to do", said, re.MULTILINE), said


def data_files(datasets: Path) -> dict[str, int]:
    """{path: modification time in ns} of every file under datasets/."""
    return {str(path.relative_to(datasets)): path.stat().st_mtime_ns
            for path in sorted(datasets.rglob("*")) if path.is_file()}


def run_setup_cell_in_process(cell: str, my_drive: Path, monkeypatch) -> None:
    """Run the cell's Python (IPython syntax translated) with the stand-in imported; the
    stand-in leaves sys.modules as it found it afterwards."""
    for name in ("google", "google.colab", "google.colab.drive"):
        monkeypatch.setitem(sys.modules, name, None)
    exec(STAND_IN.format(my_drive=str(my_drive)), {})
    exec(TransformerManager().transform_cell(cell), {})


@pytest.mark.parametrize("drive_holds, says", [
    ({"Colab Notebooks/assignments/fcnet": "release", "fcnet.zip": "zip"},
     "Found it at: Colab Notebooks/assignments/fcnet. Set FOLDERNAME to one of these."),
    ({"fcnet.zip": "zip", "notes.txt": "text"},
     "My Drive holds: fcnet.zip, notes.txt. Upload the unzipped folder (Drive does not unzip a "
     ".zip): see README.md, 'In Google Colab'."),
])
def test_a_wrong_foldername_says_what_the_drive_holds(tmp_path, monkeypatch, drive_holds, says):
    my_drive, content = tmp_path / "gdrive", tmp_path / "content"
    my_drive.mkdir()
    for path, kind in drive_holds.items():
        if kind == "release":
            put_release_in(my_drive, path)
        else:
            (my_drive / path).write_bytes(b"PK" if kind == "zip" else b"notes")
    with pytest.raises(FileNotFoundError) as error:
        run_setup_cell_in_process(setup_cell("Dropout.ipynb", content), my_drive, monkeypatch)
    assert str(error.value) == (f"My Drive/{MANIFEST.colab_folder} is not the assignment folder. "
                                + says)
