"""What a PostgreSQL gradebook costs against SQLite, measured side by side in one run.

A throw-away PostgreSQL server from the distribution's packages (tests/postgres_server.py,
on loopback, durable as a real one: fsync on) and, for each of `--repeats` rounds,
interleaved:

1. the same batch of trimmed submissions (FullyConnectedNets and its files, as the tests
   grade them: copies of the reference and the blank release) graded with 2 workers into
   a new OUT with SQLite, and into a new OUT with a new PostgreSQL database (`--db`);
2. the gradebook's own share: registering the assignment (SQLite: the template's file is
   copied; PostgreSQL: nbgrader generate_assignment writes it); recording the results of a
   class of `--class-size` (the batch's results under other ids, recorded as the
   coordinator records each submission as it finishes), per submission; and
   `autograder export` on that class (every TA command reads the gradebook like it).

The best of the rounds is printed for each, with the ratio PostgreSQL / SQLite.

Run: make benchmark-gradebook   (or .venv/bin/python benchmarks/bench_gradebook.py [--batch 4])
Needs the datasets (make data) and PostgreSQL's server (make postgres). About 10 minutes.
"""
import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from autograder.cli import main as autograder_main  # noqa: E402
from autograder.grading.batch import grade_folder  # noqa: E402
from autograder.grading.course import (  # noqa: E402
    GRADEBOOK_FILE, data_folder, make_course_template, nbgrader_env, register_assignment)
from autograder.grading.gradebook import GradebookDatabase  # noqa: E402
from autograder.grading.records import (  # noqa: E402
    OutputPaths, read_csv, record_in_gradebook, write_csvs)
from autograder.grading.samples import Sample, build_samples, write_zip  # noqa: E402
from autograder.manifest import load_manifest  # noqa: E402
from corpus.build_corpus import KEPT  # noqa: E402
from postgres_server import PostgresServer  # noqa: E402

SINGLE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
PASSWORD = "bench"  # every role's; in PGPASSWORD, where the TA commands find it


def quiet(*args, **kwargs):
    pass


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=4, help="trimmed submissions in the batch")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--class-size", type=int, default=300, help="students recorded and exported")
    args = parser.parse_args()
    os.environ.update(SINGLE_THREAD, NNKIT_DATA_DIR=str(data_folder(REPO)), MPLBACKEND="Agg",
                      PATH=nbgrader_env()["PATH"], PGPASSWORD=PASSWORD)
    manifest = load_manifest(REPO / "assignments" / "fcnet" / "manifest.toml")
    server = PostgresServer.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-gradebook-") as work:
            return measure(Path(work), manifest, server, args)
    finally:
        server.stop()


def measure(work: Path, manifest, server: PostgresServer, args) -> int:
    samples = build_samples(REPO, manifest, REPO / "out" / "cache", partial_names=(), say=quiet)
    batch = work / "batch"
    for number in range(args.batch):
        sample = samples[number % 2]  # the reference and the blank release, in turn
        files = {path: sample.files[path] for path in KEPT if path in sample.files}
        write_zip(Sample(sample.name, files), batch / f"s{number:02d}_{sample.name}.zip")
    template = make_course_template(REPO, manifest, work / "template")

    seconds = {"sqlite": {}, "postgres": {}}
    grades = {}
    for round_number in range(args.repeats):
        for kind in ("sqlite", "postgres"):
            out = work / f"{kind}-{round_number}"
            database = (None if kind == "sqlite" else GradebookDatabase.parse(
                server.create_database(f"bench_{round_number}", "grader", PASSWORD)))
            started = time.perf_counter()
            graded = grade_folder(REPO, manifest, batch, out, workers=2, database=database,
                                  say=quiet)
            add(seconds[kind], "grade", time.perf_counter() - started)
            grades[kind] = sorted((row["student_id"], row["score"], row["status"])
                                  for row in read_csv(graded.paths.grades_csv))
            paths = OutputPaths(out, database)
            klass = [replace(graded.results[n % len(graded.results)], student_id=f"c{n:03d}")
                     for n in range(args.class_size)]
            add(seconds[kind], "record", timed(lambda: [
                record_in_gradebook(paths.db_url, manifest.id, [result]) for result in klass])
                / len(klass))
            write_csvs(paths, klass, graded.max_score)
            with contextlib.redirect_stdout(io.StringIO()):  # a line per incomplete student
                add(seconds[kind], "export", timed(lambda: autograder_main(["export", str(out)])))
            fresh = work / f"fresh-{kind}-{round_number}"
            fresh.mkdir()
            if database is None:
                add(seconds[kind], "register", timed(lambda: shutil.copy2(
                    template / GRADEBOOK_FILE, fresh / GRADEBOOK_FILE)))
            else:
                other = GradebookDatabase.parse(server.create_database(
                    f"fresh_{round_number}", "grader", PASSWORD))
                add(seconds[kind], "register", timed(lambda: register_assignment(
                    template, manifest.id, str(other), env=other.environment())))

    sqlite, postgres = seconds["sqlite"], seconds["postgres"]
    print(f"\nThe same {args.batch} trimmed submissions, 2 workers; best of {args.repeats} "
          "interleaved rounds (PostgreSQL on this machine, over TCP on loopback):")
    print(f"  {'':40} {'SQLite':>10} {'PostgreSQL':>12} {'ratio':>7}")
    rows = [(f"grade {args.batch} submissions (whole command)", "grade", 1, "s"),
            ("  register the assignment (once a run)", "register", 1, "s"),
            ("  record one submission's results", "record", 1000, "ms"),
            (f"export a class of {args.class_size + args.batch}", "export", 1, "s")]
    for label, key, scale, unit in rows:
        best_sqlite, best_postgres = min(sqlite[key]), min(postgres[key])
        ratio = f"{best_postgres / best_sqlite:6.2f}x" if best_sqlite >= 0.01 else "      -"
        print(f"  {label:40} {best_sqlite * scale:8.2f} {unit:2} {best_postgres * scale:9.2f} "
              f"{unit:2} {ratio}")
    same = grades["sqlite"] == grades["postgres"]
    print(f"  grades identical: {'yes' if same else 'NO'}")
    return 0 if same else 1


def add(measured: dict, key: str, value: float) -> None:
    measured.setdefault(key, []).append(value)


if __name__ == "__main__":
    sys.exit(main())
