"""What grading costs on top of running the notebooks, where its time goes, and what a
second worker buys.

1. Overhead. One complete submission (the reference sample) is graded with one worker
   (`grade_folder`) and, side by side in the same run, its notebooks are executed bare:
   nbclient, a plain kernel, the same cells (slow-tagged cells skipped, as autograde skips
   them), no nbgrader, no hidden checks. Both are repeated, interleaved; the best times are
   printed: the submission's grading task (unpack, hidden checks, nbgrader autograde in
   sandboxed kernels, feedback), which is what every further submission costs, and the
   whole command, which adds the batch's one-off set-up (registering the assignment in a
   scratch course and the gradebook) and the report. Targets: the task at most 16 s on one
   core, and at most 5 s more than bare execution.
   The task is timed as a worker's second (its first also starts the worker's nbgrader
   process, which every later task reuses), with two cores and on one (the command and
   everything it starts confined to it: one worker overlaps the hidden checks and the next
   kernel with the notebook, so with two cores it uses both). Then the task's stages (GradingResult.stages): preparing the
   scratch course, autograde (of which: kernel starts, cells, waiting for hidden checks,
   and the rest: nbgrader itself), feedback, recording the result in OUT, and the hidden
   checks, which run beside autograde; and the notebooks' data loading: get_CIFAR10_data()
   in a fresh process from the batches (as before the data step's cache) and from the
   cache.
2. Throughput. A batch of submissions (the samples, topped up with copies of the
   reference) is graded with 1 worker on one core, 1 worker on two and 2 workers on two;
   submissions per minute are printed, and the scaling a second worker with its own core
   brings (target: 2 workers on two cores at least 1.9x one worker on one); the runs'
   grades must be equal. Next to it, what the machine itself allows: the reference's
   notebooks executed bare twice at once on two cores against once on one core (measured
   with part 1). Two busy cores of a virtual machine are not always twice one (they can
   share a physical core or its memory bandwidth), and no grader scales better than the
   notebooks' own work does.

Run: make benchmark-grading   (or .venv/bin/python benchmarks/bench_grading.py [--batch 8])
Needs the datasets (make data). Takes about 15 minutes on 2 cores (22 with --batch 16).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.grading import execution_log, task as grading_task  # noqa: E402
from autograder.grading.batch import RECORDS, grade_folder  # noqa: E402
from bench_data import batches_only_folder, measure as load_data  # noqa: E402
from autograder.grading.course import data_folder  # noqa: E402
from autograder.grading.hidden import assemble_checked_folder  # noqa: E402
from autograder.grading.preprocessors import SkipSlowCells  # noqa: E402
from autograder.grading.records import read_csv  # noqa: E402
from autograder.grading.samples import build_samples, write_zip  # noqa: E402
from autograder.manifest import load_manifest  # noqa: E402

SINGLE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def quiet(*args, **kwargs):
    pass


def execute_bare(submission_zip, manifest, folder):
    """Seconds to execute the submission's notebooks with nbclient and nothing else."""
    shutil.rmtree(folder, ignore_errors=True)
    unpacked = folder.with_name(folder.name + "-zip")
    shutil.rmtree(unpacked, ignore_errors=True)
    with zipfile.ZipFile(submission_zip) as archive:
        archive.extractall(unpacked)
    assemble_checked_folder(unpacked, REPO / "source" / manifest.id, manifest, folder)
    skip = SkipSlowCells()
    notebooks = []
    for name in manifest.notebooks:
        notebook = nbformat.read(folder / name, as_version=4)
        for index, cell in enumerate(notebook.cells):
            skip.preprocess_cell(cell, {"autograder_skipped_grade_ids": []}, index)
        notebooks.append(notebook)
    start = time.perf_counter()
    for notebook in notebooks:
        NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}).execute()
    return time.perf_counter() - start


def bare_on_one_and_two_cores(submission_zip, manifest, work):
    """(seconds of one bare execution alone on one core, seconds of two at once on two
    cores: the slower of the pair)."""
    with on_cores(1):
        alone = execute_bare(submission_zip, manifest, work / "alone")
    with on_cores(2), ThreadPoolExecutor(2) as pool:
        pair = pool.map(lambda name: execute_bare(submission_zip, manifest, work / name),
                        ("pair-1", "pair-2"))
        return alone, max(pair)


def grade(submissions, out, manifest, workers):
    """(seconds, graded, {student: score}, [per-cell rows]) of grading the folder."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    graded = grade_folder(REPO, manifest, submissions, out, workers=workers, say=quiet)
    seconds = time.perf_counter() - start
    grades = {row["student_id"]: (row["score"], row["status"]) for row in read_csv(graded.paths.grades_csv)}
    cells = sorted((row["student_id"], row["grade_id"], row["score"]) for row in read_csv(graded.paths.scores_csv))
    return seconds, graded, grades, cells


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since it booted (/proc/stat): what a
    batch costs in CPU, whatever process spent it (kernels, nbgrader, checks, the grader)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@contextmanager
def on_cores(count):
    """Everything started inside (workers, nbgrader, kernels, checks) runs on the first
    `count` of the cores this process may use."""
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, allowed[:count])
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def print_stages(stages):
    """The task's stages, the notebooks' ones indented under autograde."""
    notebooks = (execution_log.KERNEL_START, execution_log.CELLS, execution_log.VERDICT_WAIT)
    autograde = stages.get(grading_task.AUTOGRADE, 0.0)
    print("  where the task's time went:")
    print(f"    {grading_task.PREPARING + ' (scratch course, unpacking)':<40} {stages.get(grading_task.PREPARING, 0):6.1f} s")
    print(f"    {grading_task.AUTOGRADE:<40} {autograde:6.1f} s")
    for stage in notebooks:
        print(f"      {stage:<38} {stages.get(stage, 0):6.1f} s")
    rest = autograde - sum(stages.get(stage, 0) for stage in notebooks)
    print(f"      {'nbgrader itself (the rest)':<38} {rest:6.1f} s")
    print(f"    {grading_task.FEEDBACK:<40} {stages.get(grading_task.FEEDBACK, 0):6.1f} s")
    print(f"    {RECORDS + ' (in OUT, by the coordinator)':<40} {stages.get(RECORDS, 0):6.1f} s")
    print(f"    {grading_task.HIDDEN_CHECKS + ' (beside autograde)':<40} {stages.get(grading_task.HIDDEN_CHECKS, 0):6.1f} s")


def print_data_loading(rounds, work):
    """get_CIFAR10_data() in a fresh process, before the data step's cache and with it."""
    cifar_dir = data_folder(REPO) / "cifar-10-batches-py"
    batches = batches_only_folder(cifar_dir, work / "batches-only")
    before = sorted(load_data("batches", batches)["seconds"] for _ in range(rounds))
    after = sorted(load_data("cache", cifar_dir)["seconds"] for _ in range(rounds))
    print(f"  data loading, get_CIFAR10_data() in a fresh process (median of {rounds}): "
          f"{before[rounds // 2]:.2f} s from the batches, {after[rounds // 2]:.3f} s from the "
          f"cache ({before[rounds // 2] / after[rounds // 2]:.0f}x)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8, help="submissions in the throughput batch")
    parser.add_argument("--repeats", type=int, default=2, help="repeats of the overhead measurement")
    args = parser.parse_args()
    os.environ.update(SINGLE_THREAD, NNKIT_DATA_DIR=str(data_folder(REPO)), MPLBACKEND="Agg")
    manifest = load_manifest(REPO / "assignments" / "fcnet" / "manifest.toml")

    with tempfile.TemporaryDirectory(prefix="bench-grading-") as work:
        work = Path(work)
        samples = build_samples(REPO, manifest, REPO / "out" / "cache", say=quiet)
        one, two = work / "one", work / "two"
        reference_zip = write_zip(samples[0], one / "reference.zip")
        two.mkdir()
        for name in ("1_first", "2_second"):
            shutil.copy(reference_zip, two / f"{name}.zip")

        # A worker's first task also starts its nbgrader process; every later one reuses it
        # (course.GradingSteps): the second task is what a submission costs.
        bare, tasks, tasks_one_core, command, alone, pair = [], [], [], [], [], []
        for _ in range(args.repeats):
            bare.append(execute_bare(reference_zip, manifest, work / "bare"))
            one_core, two_cores = bare_on_one_and_two_cores(reference_zip, manifest, work)
            alone.append(one_core)
            pair.append(two_cores)
            command.append(grade(one, work / "one-out", manifest, workers=1)[0])
            tasks.append(grade(two, work / "two-out", manifest, workers=1)[1].results[1])
            with on_cores(1):
                tasks_one_core.append(grade(two, work / "two-out", manifest, workers=1)[1].results[1].seconds)
        best = min(tasks, key=lambda result: result.seconds)
        print(f"one complete submission ({samples[0].name}), best of {args.repeats}:")
        print(f"  bare nbclient execution of its notebooks:   {min(bare):7.1f} s")
        print(f"  its grading task (1 worker, its 2nd task):  {best.seconds:7.1f} s")
        print(f"  its grading task on one core:               {min(tasks_one_core):7.1f} s   (target <= 16 s)")
        print(f"  the whole command, with the batch set-up:   {min(command):7.1f} s")
        print(f"  grader overhead, task - bare:   {best.seconds - min(bare):5.1f} s   (target <= 5 s)")
        print(f"  overhead ratio, task / bare:    {best.seconds / min(bare):.2f}x")
        print(f"  overhead ratio, command / bare: {min(command) / min(bare):.2f}x")
        print_stages(best.stages)
        print_data_loading(args.repeats + 1, work)

        batch = work / "batch"
        for number in range(args.batch):
            sample = samples[number] if number < len(samples) else samples[0]
            write_zip(sample, batch / f"{number:02d}_{sample.name}.zip")
        runs, cpu = {}, {}  # (workers, cores): (seconds, grades, cells), CPU seconds
        for workers, cores in ((1, 1), (1, 2), (2, 2)):
            busy_before = busy_cpu_seconds()
            with on_cores(cores):
                seconds, _, grades, cells = grade(batch, work / f"batch-{workers}-{cores}", manifest, workers)
            runs[workers, cores], cpu[workers, cores] = (seconds, grades, cells), busy_cpu_seconds() - busy_before
        print(f"batch of {args.batch} submissions (CPU: the whole machine's, per submission):")
        for (workers, cores), (seconds, _, _) in runs.items():
            print(f"  {workers} worker(s) on {cores} core(s): {seconds:7.1f} s  "
                  f"({60 * args.batch / seconds:5.2f} per minute, "
                  f"{cpu[workers, cores] / args.batch:4.1f} CPU s each)")
        print(f"  scaling, 2 workers on two cores / 1 worker on one: "
              f"{runs[1, 1][0] / runs[2, 2][0]:.2f}x   (target >= 1.9x)")
        print(f"  the machine itself: the notebooks run bare twice at once on two cores / once on "
              f"one ({min(pair):.1f} s, {min(alone):.1f} s): {2 * min(alone) / min(pair):.2f}x")
        print(f"  2 workers / 1 worker, both on two cores: {runs[1, 2][0] / runs[2, 2][0]:.2f}x")
        first = runs[1, 1]
        same = all(run[1:] == first[1:] for run in runs.values())
        print(f"  grades identical: {'yes' if same else 'NO'}")
        if not same:
            for key, (_, grades, _) in runs.items():
                for student in sorted(first[1]):
                    if grades.get(student) != first[1][student]:
                        print(f"    {student}: {first[1][student]} with 1 worker on one core, "
                              f"{grades.get(student)} with {key[0]} on {key[1]}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
