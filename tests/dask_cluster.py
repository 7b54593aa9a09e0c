"""A throw-away Dask cluster on loopback, for tests and benchmarks: a real `dask scheduler` and
`dask worker` processes, as an instructor's cluster runs them.

    cluster = DaskCluster.start(workers=2)    # scheduler + 2 workers (1 process, 1 thread each)
    cluster.address                           # tcp://127.0.0.1:PORT
    cluster.worker_processes()                # the processes that run tasks (psutil)
    cluster.stop()                            # stops them (by PID) and removes their folder

Everything runs in a fresh temporary folder outside the repository (their working folders
and --local-directory), with no PYTHONPATH: a worker can import the installed kit (the
venv's) and nothing else of the checkout, and reads the course only from the bundle the
grader ships it. Each worker runs under a nanny, which starts a new worker process when
one dies, as on a real cluster.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

START_TIMEOUT = 120  # seconds for the scheduler and workers to come up on a loaded machine


@dataclass
class DaskCluster:
    folder: Path
    address: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def start(cls, workers: int = 2) -> DaskCluster:
        folder = Path(tempfile.mkdtemp(prefix="nnkit-dask-"))
        port = _free_port()
        cluster = cls(folder, f"tcp://127.0.0.1:{port}")
        env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
        dask = str(Path(sys.executable).with_name("dask"))
        try:
            cluster._launch("scheduler", [dask, "scheduler", "--host", "127.0.0.1", "--port",
                                          str(port), "--no-dashboard"], env)
            for number in range(workers):
                work = folder / f"worker-{number}"
                work.mkdir()
                cluster._launch(f"worker-{number}", [
                    dask, "worker", cluster.address, "--nworkers", "1", "--nthreads", "1",
                    "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(work),
                    "--name", f"worker-{number}"], env, cwd=work)
            cluster.wait_for_workers(workers)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _launch(self, name: str, command: list[str], env: dict, cwd: Path | None = None) -> None:
        log = (self.folder / f"{name}.log").open("wb")
        self.processes.append(subprocess.Popen(command, cwd=cwd or self.folder, env=env,
                                               stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def client(self):
        from distributed import Client
        return Client(self.address, timeout=START_TIMEOUT, set_as_default=False)

    def wait_for_workers(self, count: int) -> None:
        with self.client() as client:
            client.wait_for_workers(count, timeout=START_TIMEOUT)

    def worker_processes(self) -> list[psutil.Process]:
        """The processes that run the tasks: the worker processes the nannies started (a
        nanny starts a new one when one dies)."""
        found = []
        for nanny in self.processes[1:]:  # after the scheduler
            with contextlib.suppress(psutil.NoSuchProcess):
                found += psutil.Process(nanny.pid).children()
        return found

    def stop(self) -> None:
        """Stop every process started here (each in a session of its own: the nanny and the
        worker process it started end together), then remove the folder."""
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
