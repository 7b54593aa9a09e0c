"""What a broken submission costs: an endless loop graded side by side with the reference.

One batch holds the complete reference submission and the same submission with an endless
loop in relu_forward (so every notebook cell and hidden check that calls it hangs, in all
four notebooks). It is graded with 2 workers and the default limits, as `autograder grade
--workers 2` does, so the two submissions are graded at the same time under the same
load. Printed: each one's grading time and score, and the ratio of the times, for each
repeat. Target: a small multiple of the reference (before issue 9 the endless loop held a
worker for the whole-submission limit of 1200 s and scored 0).

Run: .venv/bin/python benchmarks/bench_faults.py [--repeats 2]
Needs the datasets (make data). About 5 minutes per repeat on 2 cores.
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from autograder.grading.batch import grade_folder  # noqa: E402
from autograder.grading.course import data_folder  # noqa: E402
from autograder.grading.samples import Sample, build_samples, write_zip  # noqa: E402
from autograder.manifest import load_manifest  # noqa: E402
from corpus.build_corpus import LAYERS, edit_module, prepend_to  # noqa: E402

SINGLE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="batches to grade")
    args = parser.parse_args()
    os.environ.update(SINGLE_THREAD, NNKIT_DATA_DIR=str(data_folder(REPO)), MPLBACKEND="Agg")
    manifest = load_manifest(REPO / "assignments" / "fcnet" / "manifest.toml")
    reference = build_samples(REPO, manifest, REPO / "out" / "cache", partial_names=(),
                              say=lambda *_: None)[0]
    looping = Sample("endless_loop", edit_module(reference.files, LAYERS, prepend_to(
        "relu_forward", "while True:\n    pass")))

    with tempfile.TemporaryDirectory(prefix="bench-faults-") as work:
        work = Path(work)
        for sample in (reference, looping):
            write_zip(sample, work / "submissions" / f"{sample.name}.zip")
        print("grading the reference and the endless loop in relu_forward side by side "
              "(2 workers, default limits):")
        for repeat in range(1, args.repeats + 1):
            graded = grade_folder(REPO, manifest, work / "submissions", work / f"out-{repeat}",
                                  workers=2, say=lambda *_: None)
            results = {result.student_id: result for result in graded.results}
            for name in ("reference", "endless_loop"):
                result = results[name]
                print(f"  {name:<13} {result.seconds:6.0f} s   {result.score:g}/{graded.max_score:g} "
                      f"points   {result.status}")
            ratio = results["endless_loop"].seconds / results["reference"].seconds
            print(f"  repeat {repeat}: endless loop / reference = {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
