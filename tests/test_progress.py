"""Long batches that resume: the progress records (which entries are graded, and whether
they changed since) and stopping a batch on a signal without leaving processes behind.

The end-to-end proof, a real `autograder grade` interrupted part-way and run again, is
tests/test_resume_batch.py (slow)."""
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from autograder.grading.deadlines import assess, late_policy_from
from autograder.grading.interruption import GradingInterrupted
from autograder.grading.progress import (ASKED, CHANGED, GRADER_CHANGED, NEW, NOT_IN_GRADEBOOK,
                                         RETRIED, EntryKey, Plan, Progress, Regrade, entry_key,
                                         grader_digest, result_data, result_from_data,
                                         write_atomically)
from autograder.grading.submissions import Entry, Source
from autograder.grading.task import CellResult, GradingResult, Limits
from autograder.manifest import load_manifest, manifest_path

REPO = Path(__file__).resolve().parents[1]
DUE = dt.datetime(2026, 12, 18, 23, 59, tzinfo=dt.timezone.utc)
POLICY = late_policy_from({"penalty": "10% per day"})
ON_TIME = assess(DUE - dt.timedelta(hours=1), DUE, POLICY)
GRADER = "grader-1"


# --- the records ------------------------------------------------------------------------------

def test_an_atomic_write_that_fails_leaves_the_old_record_whole(tmp_path):
    record = tmp_path / "entries" / "alice.json"
    write_atomically(record, {"graded": 1})
    with pytest.raises(TypeError):
        write_atomically(record, {"graded": 2, "result": object()})  # fails half-way
    assert json.loads(record.read_text()) == {"graded": 1}
    assert sorted(path.name for path in record.parent.iterdir()) == ["alice.json"]


def class_of(tmp_path: Path) -> list[Entry]:
    """alice hands in a zip, bob a folder, carol a loose notebook."""
    download = tmp_path / "download"
    (download / "bob" / "nnkit").mkdir(parents=True)
    (download / "alice.zip").write_bytes(b"PK alice's zip")
    (download / "bob" / "nnkit" / "layers.py").write_text("def affine_forward(): ...\n")
    (download / "carol_FullyConnectedNets.ipynb").write_text("{}")
    return [Entry("alice", (Source(download / "alice.zip"),), name="Alice"),
            Entry("bob", (Source(download / "bob"),), name="Bob"),
            Entry("carol", (Source(download / "carol_FullyConnectedNets.ipynb",
                                   "FullyConnectedNets.ipynb"),), name="Carol")]


def keys_of(entries, lateness=ON_TIME, grader=GRADER) -> dict[str, EntryKey]:
    return {entry.student_id: entry_key(entry, lateness, grader) for entry in entries}


def result_of(entry: Entry, grader_fault: bool = False) -> GradingResult:
    cells = () if grader_fault else (
        CellResult("FullyConnectedNets", "fc_affine_forward", "test", 3.0, 3.0),
        CellResult("FullyConnectedNets", "fc_relu_forward", "test", 0.0, 2.0,
                   "hidden check failed: relative error 1 above 1e-7"),
        CellResult("FullyConnectedNets", "fc_q1_explain", "answer", None, 2.0, "graded by a TA"))
    status = "failed: grading crashed (BrokenProcessPool: ...)" if grader_fault else "ok"
    return GradingResult(entry.student_id, entry.label, status, cells, "2026-12-18 22:59:00.000000 UTC",
                         seconds=42.0, name=entry.name, lateness=ON_TIME, grader_fault=grader_fault)


def graded(progress: Progress, entries, keys, faulty=()) -> None:
    for entry in entries:
        progress.save(result_of(entry, grader_fault=entry.student_id in faulty),
                      keys[entry.student_id])


def graded_class(tmp_path: Path, faulty=()) -> tuple[list[Entry], dict[str, EntryKey]]:
    """The class, graded by a run that finished (`faulty`: failed for the grader's reasons)."""
    entries = class_of(tmp_path)
    keys = keys_of(entries)
    progress = Progress(tmp_path / "progress")
    progress.plan(entries, keys, set())
    graded(progress, entries, keys, faulty)
    progress.finished()
    return entries, keys


def test_a_new_output_folder_grades_everyone(tmp_path):
    entries = class_of(tmp_path)
    plan = Progress(tmp_path / "progress").plan(entries, keys_of(entries), set())
    assert plan.to_grade == entries and plan.done == {} and plan.reasons == {NEW: 3}


def test_a_rerun_skips_what_is_graded_and_rebuilds_its_results(tmp_path):
    entries = class_of(tmp_path)
    keys = keys_of(entries)
    progress = Progress(tmp_path / "progress")
    progress.plan(entries, keys, set())
    graded(progress, entries[:2], keys)  # interrupted before carol

    plan = Progress(tmp_path / "progress").plan(entries, keys, {"alice", "bob"})
    assert plan.continued
    assert [entry.student_id for entry in plan.to_grade] == ["carol"]
    assert plan.reasons == {NEW: 1}
    assert plan.done["alice"] == result_of(entries[0])  # every field but the scratch files


def test_a_result_comes_back_from_its_record_as_it_was(tmp_path):
    entry = class_of(tmp_path)[0]
    late = assess(DUE + dt.timedelta(hours=30), DUE, POLICY)
    result = GradingResult("alice", entry.label, "ok, but: late", result_of(entry).cells,
                           None, seconds=1.5, name="Alice", lateness=late)
    assert result_from_data(json.loads(json.dumps(result_data(result)))) == result


def test_an_entry_changed_since_is_graded_again(tmp_path):
    entries, keys = graded_class(tmp_path)

    (tmp_path / "download" / "alice.zip").write_bytes(b"PK alice's new upload")
    (tmp_path / "download" / "bob" / "nnkit" / "optim.py").write_text("def adam(): ...\n")
    plan = Progress(tmp_path / "progress").plan(entries, keys_of(entries), set(keys))
    assert [entry.student_id for entry in plan.to_grade] == ["alice", "bob"]
    assert plan.reasons == {CHANGED: 2} and list(plan.done) == ["carol"]


def test_the_same_files_elsewhere_are_the_same_entry(tmp_path):
    """A bulk zip is unpacked into a new scratch folder by every run."""
    first, second = class_of(tmp_path / "run1"), class_of(tmp_path / "run2")
    assert keys_of(first) == keys_of(second)


def test_a_new_lateness_or_grader_grades_again(tmp_path):
    entries, keys = graded_class(tmp_path)

    extended = assess(DUE - dt.timedelta(hours=1), DUE + dt.timedelta(days=2), POLICY,
                      extended_from=DUE)
    later = Progress(tmp_path / "progress")
    assert later.plan(entries, keys_of(entries, lateness=extended), set(keys)).reasons == {CHANGED: 3}
    assert later.plan(entries, keys_of(entries, grader="grader-2"), set(keys)).reasons == {
        GRADER_CHANGED: 3}


def test_the_grader_digest_follows_the_grader():
    manifest = load_manifest(manifest_path(REPO, "fcnet"))
    digest = grader_digest(REPO, manifest, Limits())
    assert digest == grader_digest(REPO, manifest, Limits())
    assert digest != grader_digest(REPO, manifest, Limits(cell_floor=Limits().cell_floor * 2))


def test_a_grader_fault_is_retried_and_a_students_failure_is_kept(tmp_path):
    entries, keys = graded_class(tmp_path, faulty={"bob"})
    Progress(tmp_path / "progress").save(
        GradingResult("carol", entries[2].label, "failed: timed out", lateness=ON_TIME),
        keys["carol"])

    plan = Progress(tmp_path / "progress").plan(entries, keys, set(keys))
    assert [entry.student_id for entry in plan.to_grade] == ["bob"]
    assert plan.reasons == {RETRIED: 1}
    assert plan.done["carol"].status == "failed: timed out"


def test_an_entry_missing_from_the_gradebook_is_graded_again(tmp_path):
    entries, keys = graded_class(tmp_path)
    plan = Progress(tmp_path / "progress").plan(entries, keys, {"alice", "carol"})
    assert plan.reasons == {NOT_IN_GRADEBOOK: 1}


def test_regrade_all_interrupted_and_run_again_continues_instead_of_starting_over(tmp_path):
    entries, keys = graded_class(tmp_path)
    everyone = Regrade.asked(regrade_all=True, only=None)
    forced = Progress(tmp_path / "progress", everyone)
    assert forced.plan(entries, keys, set(keys)).reasons == {ASKED: 3}
    graded(forced, entries[:1], keys)  # interrupted after alice

    again = Progress(tmp_path / "progress", everyone).plan(entries, keys, set(keys))
    assert again.continued and again.reasons == {ASKED: 2} and list(again.done) == ["alice"]
    # A different request is a new run: --only bob regrades bob, whatever ran before.
    only = Progress(tmp_path / "progress", Regrade.asked(False, ["bob"])).plan(
        entries, keys, set(keys))
    assert not only.continued and [entry.student_id for entry in only.to_grade] == ["bob"]


def test_the_plan_says_what_it_skips_and_why_it_grades():
    lines = Plan([Entry("dave")], {"alice": None, "bob": None}, Counter({NEW: 1}), True).describe()
    assert lines == ["Continuing the run that did not finish.",
                     "Skipping 2 submission(s) graded before and unchanged since "
                     "(--regrade-all grades them again).",
                     f"Grading 1: 1 {NEW}."]


# --- signals ----------------------------------------------------------------------------------

# A batch in miniature: the grader's interruption handling around a pool of 2 workers whose
# tasks each start a long process in a session of its own (as kernels are started), and a
# loop that records results.
MINI_BATCH = textwrap.dedent("""
    import multiprocessing, subprocess, sys, time
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from autograder.grading.interruption import (GradingInterrupted, Interruptions,
                                                 stopped_when_left, worker_started)

    def task(seconds):
        subprocess.run(["sleep", str(seconds)], start_new_session=True)
        return seconds

    if __name__ == "__main__":
        try:
            with Interruptions() as interruptions:
                interruptions.planned(total=4, graded=1)
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(2, mp_context=context, initializer=worker_started) as pool, \\
                        stopped_when_left([pool]):
                    futures = [pool.submit(task, seconds) for seconds in (0.1, 600, 600)]
                    for future in as_completed(futures):
                        with interruptions.recording():
                            future.result()
                        print("recorded", flush=True)
        except GradingInterrupted as interrupted:
            print(interrupted, file=sys.stderr)
            sys.exit(interrupted.exit_code)
""")


def sleepers() -> set[int]:
    return {process.pid for process in psutil.process_iter(["cmdline"])
            if process.info["cmdline"] == ["sleep", "600"]}


def start_mini_batch(tmp_path: Path) -> tuple[subprocess.Popen, set[int]]:
    """The mini batch once its first result is recorded and its two other tasks run; and
    the long processes those started."""
    before = sleepers()
    script = tmp_path / "mini_batch.py"
    script.write_text(MINI_BATCH)
    batch = subprocess.Popen([sys.executable, str(script)], cwd=REPO, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    assert batch.stdout.readline() == "recorded\n"
    while len(sleepers() - before) < 2:
        time.sleep(0.1)
    return batch, sleepers() - before


@pytest.mark.parametrize("signum, to_group", [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_a_signal_stops_every_process_and_says_how_far_the_run_got(tmp_path, signum, to_group):
    """Ctrl-C (SIGINT to the terminal's whole process group) and SIGTERM (to the grader alone,
    as `kill` or a service manager sends it)."""
    batch, started = start_mini_batch(tmp_path)
    if to_group:
        os.killpg(batch.pid, signum)
    else:
        batch.send_signal(signum)
    out, err = batch.communicate(timeout=120)
    assert batch.returncode == 128 + signum
    assert err.strip() == ("Graded 2 of 4 submission(s) before the run was interrupted; run the "
                           "same command again to grade the remaining 2.")
    assert started & sleepers() == set()


def test_the_workers_and_what_they_started_end_when_the_grader_is_killed(tmp_path):
    """SIGKILL (a crash, the out-of-memory killer): the grader cannot clean up, its workers do."""
    batch, started = start_mini_batch(tmp_path)
    batch.kill()
    batch.communicate(timeout=120)
    left = []
    for pid in started & sleepers():
        with contextlib.suppress(psutil.NoSuchProcess):
            left.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(left, timeout=60)
    assert alive == []


def test_a_signal_while_a_result_is_recorded_waits_until_it_is_recorded():
    script = textwrap.dedent("""
        import os, signal, sys
        from autograder.grading.interruption import GradingInterrupted, Interruptions
        try:
            with Interruptions() as interruptions:
                interruptions.planned(total=3, graded=0)
                with interruptions.recording():
                    os.kill(os.getpid(), signal.SIGINT)
                    print("recorded in full", flush=True)
                print("never here", flush=True)
        except GradingInterrupted as interrupted:
            print(interrupted, flush=True)
            sys.exit(interrupted.exit_code)
    """)
    finished = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert finished.returncode == 130
    assert finished.stdout.splitlines() == [
        "recorded in full", "Graded 1 of 3 submission(s) before the run was interrupted; run "
        "the same command again to grade the remaining 2."]


def test_the_sentence_before_grading_began_and_after_it_ended():
    assert "before grading began" in str(GradingInterrupted(signal.SIGINT, None, None))
    assert "nothing is graded again" in str(GradingInterrupted(signal.SIGTERM, 5, 5))
    assert GradingInterrupted(signal.SIGTERM, 5, 5).exit_code == 143
