"""Run one probe on the student's nnkit. The grader starts this file as a script,

    python -I student_runner.py JOB_DIR

in a process of its own, with the submission folder as working directory (see sandbox.py).

JOB_DIR/job.json names the probe, the submission folder and the limits; JOB_DIR/inputs.npz
holds the cases ("<case>/<name>" -> array). The runner writes JOB_DIR/outputs.npz (same
key scheme) and JOB_DIR/result.json: {"ok": true} or {"ok": false, "message": ...}, the
message saying which student function failed and how, in words for the student.

The limits are set before any student code is imported, soft and hard, so the student's
code cannot raise them again. Python's -I keeps the environment's PYTHONPATH and the
user's site-packages out; the submission folder is the only place nnkit comes from.
"""
import faulthandler
import importlib.util
import json
import os
import resource
import signal
import sys
from pathlib import Path

JOB_DIR = Path(sys.argv[1])
JOB = json.loads((JOB_DIR / "job.json").read_text())
SUBMISSION = Path(JOB["submission"]).resolve()


def limit(kind, value):
    resource.setrlimit(kind, (value, value))


def die_with_the_grader():
    """Linux: end this process when the grader process ends (e.g. killed by its own timeout)."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != JOB["grader_pid"]:  # the grader ended before prctl took effect
        os._exit(1)


def main():
    die_with_the_grader()
    limit(resource.RLIMIT_AS, JOB["memory_bytes"])
    limit(resource.RLIMIT_CPU, JOB["cpu_seconds"])
    limit(resource.RLIMIT_FSIZE, JOB["file_bytes"])
    # An infinite loop: print where the student's code is stuck, then end the process.
    watchdog = open(JOB_DIR / "timeout.txt", "w")
    faulthandler.dump_traceback_later(JOB["timeout_seconds"], exit=True, file=watchdog)

    import numpy as np  # before the submission joins sys.path: a student's numpy.py stays unused

    probes = _load_probes()
    # Ignore any __pycache__ the submission brings along (a .pyc need not match its .py)
    # and leave the submission folder as it was.
    sys.pycache_prefix = str(JOB_DIR / "pycache")
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(SUBMISSION))

    with np.load(JOB_DIR / "inputs.npz", allow_pickle=False) as archive:
        inputs = {key: archive[key] for key in archive.files}
    cases = [{key.split("/", 1)[1]: value for key, value in inputs.items() if key.split("/", 1)[0] == str(number)}
             for number in range(JOB["cases"])]

    probe = probes.PROBES[JOB["probe"]]
    package = probes.Package()
    outputs = {}
    try:
        for number, case in enumerate(cases):
            result = probe(package, case, True)
            for key, value in result.items():
                if value is not None or not key.startswith("numeric_"):
                    outputs[f"{number}/{key}"] = _as_array(probes, key, value)
        _check_origin()
    except probes.ProbeError as error:
        return _finish(ok=False, message=str(error))
    except BaseException as error:  # noqa: BLE001 - anything the student's code raises
        return _finish(ok=False, message=describe_exception(error))
    np.savez(JOB_DIR / "outputs.npz", **outputs)
    return _finish(ok=True)


def _load_probes():
    spec = importlib.util.spec_from_file_location("autograder_probes", Path(__file__).with_name("probes.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _as_array(probes, key, value):
    import numpy as np

    if isinstance(value, np.ndarray) and value.dtype.kind in "USb":
        return value
    name = key.rsplit("/", 1)[-1]
    if value is None:
        raise probes.ProbeError(f"{name} is None where an array was expected: is a return statement "
                                "or an assignment missing?")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise probes.ProbeError(
            f"{name} must be a numpy array of numbers, got {type(value).__name__}") from None
    return array


def _check_origin():
    """The nnkit that ran must be the submission's, not one found elsewhere."""
    module = sys.modules.get("nnkit")
    if module is not None and not _inside_submission(getattr(module, "__file__", None) or ""):
        raise RuntimeError(f"nnkit was imported from {module.__file__}, not from the submission")


def _inside_submission(filename):
    try:
        return Path(filename).resolve().is_relative_to(SUBMISSION)
    except (OSError, ValueError):
        return False


def _relative(filename):
    return Path(filename).resolve().relative_to(SUBMISSION).as_posix()


def describe_exception(error):
    """Which student function raised what, e.g. 'affine_backward is not implemented yet'."""
    if isinstance(error, SyntaxError) and error.filename and _inside_submission(error.filename):
        return (f"{_relative(error.filename)} has a syntax error at line {error.lineno}: {error.msg}. "
                "Fix it so that the module can be imported.")
    where, function = None, None
    traceback = error.__traceback__
    while traceback is not None:
        code = traceback.tb_frame.f_code
        if _inside_submission(code.co_filename):
            where = f"{_relative(code.co_filename)}, line {traceback.tb_lineno}"
            function = getattr(code, "co_qualname", code.co_name)
        traceback = traceback.tb_next
    kind = type(error).__name__
    detail = " ".join(str(error).split())
    if len(detail) > 300:
        detail = detail[:300] + " ..."
    if isinstance(error, ModuleNotFoundError) and function is None:
        return (f"could not import nnkit from the submission ({detail}); the folder nnkit/ with "
                "layers.py, classifiers/fc_net.py and optim.py must be next to the notebooks")
    if function == "<module>":
        return f"importing {where.split(',')[0]} failed with {kind}: {detail} ({where})"
    if function is None:
        return f"{kind}: {detail}"
    if isinstance(error, NotImplementedError):
        return f"{function} is not implemented yet (it raises NotImplementedError, {where})"
    if isinstance(error, MemoryError):
        return f"{function} ran out of memory (the limit is {JOB['memory_bytes'] // 2**20} MiB; {where})"
    if isinstance(error, RecursionError):
        return f"{function} recursed without end ({where})"
    return f"{function} raised {kind}: {detail} ({where})" if detail else f"{function} raised {kind} ({where})"


def _finish(**result):
    (JOB_DIR / "result.json").write_text(json.dumps(result))
    # Skip interpreter shutdown: student objects' __del__ and atexit hooks do not run.
    os._exit(0)


if __name__ == "__main__":
    main()
