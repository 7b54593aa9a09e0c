"""Run probes on the student's nnkit: the student's side of every hidden check.

The grader starts this file once per submission, as a script, in the sandbox
(student_process.py):

    python -I student_runner.py SUBMISSION WORK_DIR

and sends it one request per line on stdin, a JSON object naming a job folder under
WORK_DIR (holding inputs.npz: "<case>/<name>" -> array), the probe, the number of cases and
the limits. For each request the runner forks a child that imports the student's nnkit
afresh, runs the probe on every case and writes JOB/outputs.npz (same key scheme) and
JOB/result.json: {"ok": true, "modules": [...]} or {"ok": false, "message": ..., "modules":
[...]}, the message saying which student function failed and how, in words for the student,
and "modules" the submission's files the probe imported (so the grader knows which checks
ran a module it flagged). The runner then answers with
one line, {"job": ..., "exit": <the child's exit code, negative for a signal>}.

A request with "served": true (the checks of networks) gives the child a line to the
grader: a call of one of the grader's layers is written as JOB/call-N.npz plus the line
{"call": N, "function": ...} on a pipe to this runner, which passes it on to the grader as
{"job": ..., "call": N, "function": ...}; the grader answers {"reply": N, "ok": ...} (and
writes JOB/reply-N.npz), which the runner hands back to the child. The child never holds
the runner's own stdin or stdout, so nothing the student's code writes can be taken for
the end of a job; whatever it sends on its line, the grader checks every call (see
the assignment's layer_server.py).

Forking keeps numpy imported once while every probe still starts from the files on disk:
one check cannot leave state behind for the next, and an endless loop, a crash or a
memory bomb ends only its child. The memory and file-size limits are set before any
student code runs, soft and hard, so the student's code cannot raise them again; each child
also gets a CPU limit and a watchdog that ends it after its time. Python's -I keeps the
environment's PYTHONPATH and the user's site-packages out; the submission folder is the
only place nnkit comes from.
"""
import faulthandler
import importlib.util
import json
import os
import resource
import selectors
import signal
import sys
from pathlib import Path

SUBMISSION = Path(sys.argv[1]).resolve()
WORK_DIR = Path(sys.argv[2]).resolve()
MEMORY_BYTES = int(os.environ["NNKIT_PROBE_MEMORY_BYTES"])
FILE_BYTES = int(os.environ["NNKIT_PROBE_FILE_BYTES"])
# Longest line the child may send for one call; a longer one ends the child.
CALL_LINE_BYTES = 4096


def limit(kind, value):
    resource.setrlimit(kind, (value, value))


def die_with_the_grader():
    """Linux: end this process when the grader process ends (the sandbox does it too)."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return


def serve():
    die_with_the_grader()
    limit(resource.RLIMIT_AS, MEMORY_BYTES)
    limit(resource.RLIMIT_FSIZE, FILE_BYTES)
    # The protocol gets private copies of stdin and stdout; the standard ones point nowhere,
    # so nothing the student's code prints can be taken for an answer.
    requests = os.fdopen(os.dup(0), "r")
    answers = os.fdopen(os.dup(1), "w")
    nowhere = os.open(os.devnull, os.O_RDWR)
    os.dup2(nowhere, 0)
    os.dup2(nowhere, 1)

    import numpy  # noqa: F401 - before the submission joins sys.path: a student's numpy.py stays unused

    probes = _load_probes()
    for line in requests:
        request = json.loads(line)
        job = WORK_DIR / request["job"]
        if not job.parent == WORK_DIR:
            raise ValueError(f"job folder outside {WORK_DIR}: {request['job']}")
        calls_read, calls_write = os.pipe()
        replies_read, replies_write = os.pipe()
        child = os.fork()
        if child == 0:
            requests.close()
            answers.close()
            os.close(calls_read)
            os.close(replies_write)
            run_job(probes, job, request, GraderLine(job, calls_write, replies_read))  # never returns
        os.close(calls_write)
        os.close(replies_read)
        wait_status = relay_calls(child, request["job"], calls_read, replies_write, requests, answers)
        os.close(calls_read)
        os.close(replies_write)
        try:  # whatever the child started is ended with it
            os.killpg(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        answers.write(json.dumps({"job": request["job"], "exit": os.waitstatus_to_exitcode(wait_status)}) + "\n")
        answers.flush()


def relay_calls(child, job_name, calls, replies, requests, answers):
    """Pass the child's calls to the grader and the grader's replies back until the child
    ends; returns its wait status. A line the child garbles ends the child."""
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(calls, selectors.EVENT_READ)
        while True:
            ended, wait_status = os.waitpid(child, os.WNOHANG)
            if ended:
                return wait_status
            if not selector.select(0.1):
                continue
            chunk = os.read(calls, CALL_LINE_BYTES)
            if not chunk:  # the child closed its end: it is ending
                return os.waitpid(child, 0)[1]
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                try:
                    call = json.loads(line)
                    forwarded = {"job": job_name, "call": int(call["call"]), "function": str(call["function"])}
                except (ValueError, KeyError, TypeError):
                    forwarded = None
                if forwarded is None:
                    os.kill(child, signal.SIGKILL)
                    return os.waitpid(child, 0)[1]
                answers.write(json.dumps(forwarded) + "\n")
                answers.flush()
                reply = requests.readline()
                try:
                    os.write(replies, reply.encode())
                except OSError:  # the child is gone
                    pass
            if len(pending) > CALL_LINE_BYTES:
                os.kill(child, signal.SIGKILL)
                return os.waitpid(child, 0)[1]


class GraderLine:
    """The child's side of its line to the grader: one call of a grader's layer at a time."""

    def __init__(self, job, calls, replies):
        self.job, self.calls, self.replies = job, calls, replies
        self.count = 0

    def call(self, function, arrays):
        """{name: array} the grader's `function` returned for the inputs `arrays`; raises
        ValueError with the grader's reason when it refused the call."""
        import numpy as np

        self.count += 1
        number = self.count
        request, reply_file = self.job / f"call-{number}.npz", self.job / f"reply-{number}.npz"
        np.savez(request, **arrays)
        os.write(self.calls, (json.dumps({"call": number, "function": function}) + "\n").encode())
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(self.replies, 4096)
            if not chunk:
                raise RuntimeError("the grader ended the check")
            line += chunk
        reply = json.loads(line)
        request.unlink(missing_ok=True)
        if reply.get("reply") != number:
            raise RuntimeError("the grader's reply does not match the call")
        if not reply.get("ok"):
            raise ValueError(f"{function} (the grader's, which this check runs your network with): "
                             f"{reply.get('message', 'refused')}")
        with np.load(reply_file, allow_pickle=False) as archive:
            outputs = {key: archive[key] for key in archive.files}
        reply_file.unlink(missing_ok=True)
        return outputs


def run_job(probes, job, request, grader_line):
    """The child: run one probe on every case, write its result, and end."""
    os.setpgid(0, 0)
    limit(resource.RLIMIT_CPU, request["cpu_seconds"])
    # An endless loop: print where the student's code is stuck, then end the process.
    watchdog = open(job / "timeout.txt", "w")
    faulthandler.dump_traceback_later(request["timeout_seconds"], exit=True, file=watchdog)
    import numpy as np

    # Write no bytecode into the folder: every job imports the submission afresh. A graded
    # submission's folder holds none of the student's either (hidden.assemble_checked_folder),
    # so the bytecode read is the libraries' own (a pycache_prefix would hide theirs too).
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(SUBMISSION))
    try:
        with np.load(job / "inputs.npz", allow_pickle=False) as archive:
            inputs = {key: archive[key] for key in archive.files}
        cases = [{key.split("/", 1)[1]: value for key, value in inputs.items()
                  if key.split("/", 1)[0] == str(number)} for number in range(request["cases"])]
        probe = probes.PROBES[request["probe"]]
        package = probes.Package(grader_line if request.get("served") else None)
        outputs = {}
        for number, case in enumerate(cases):
            result = probe(package, case, True)
            for key, value in result.items():
                if value is not None or not key.startswith("numeric_"):
                    outputs[f"{number}/{key}"] = _as_array(probes, key, value)
        _check_origin()
        np.savez(job / "outputs.npz", **outputs)
    except probes.ProbeError as error:
        _finish(job, ok=False, message=str(error))
    except BaseException as error:  # noqa: BLE001 - anything the student's code raises
        _finish(job, ok=False, message=describe_exception(error))
    _finish(job, ok=True)


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
                "the modules you completed must be next to the notebooks")
    if function == "<module>":
        return f"importing {where.split(',')[0]} failed with {kind}: {detail} ({where})"
    if function is None:
        return f"{kind}: {detail}"
    if isinstance(error, NotImplementedError):
        return f"{function} is not implemented yet (it raises NotImplementedError, {where})"
    if isinstance(error, MemoryError):
        return f"{function} ran out of memory (the limit is {MEMORY_BYTES // 2**20} MiB; {where})"
    if isinstance(error, RecursionError):
        return f"{function} recursed without end ({where})"
    return f"{function} raised {kind}: {detail} ({where})" if detail else f"{function} raised {kind} ({where})"


def _finish(job, **result):
    modules = {getattr(module, "__file__", None) or "" for module in list(sys.modules.values())}
    result["modules"] = sorted(_relative(name) for name in modules if name and _inside_submission(name))
    (job / "result.json").write_text(json.dumps(result))
    # Skip interpreter shutdown: student objects' __del__ and atexit hooks do not run.
    os._exit(0)


if __name__ == "__main__":
    serve()
