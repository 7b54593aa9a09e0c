"""Caps what one cell of a graded notebook may print (an IPython start-up file).

kernel.py copies this file into the IPython profile of every graded kernel, where IPython
runs it at start-up in the kernel's namespace. From then on each cell may write at most
$NNKIT_OUTPUT_LIMIT characters to stdout and as many to stderr; the rest is dropped, after
a notice. Without it, a print loop makes nbgrader receive, parse and store every byte
before LimitOutput trims it, and nbgrader gives up on the notebook when that takes too
long. It imports only the standard library: nothing else of the grader is in the kernel.
"""
import os
import sys

OUTPUT_LIMIT_ENV = "NNKIT_OUTPUT_LIMIT"


def cap_output(shell, streams, limit):
    """Wrap each stream's write so that it passes at most `limit` characters per cell."""
    written = {}

    def capped(stream, write):
        def write_capped(text):
            before = written.get(stream, 0)
            written[stream] = before + len(text)
            if before + len(text) <= limit:
                return write(text)
            if before <= limit:
                write(text[:limit - before] + f"\n[autograder: output cut after {limit:,} "
                      "characters; the rest of this cell's output was dropped]\n")
            return len(text)
        return write_capped

    for stream in streams:
        stream.write = capped(stream, stream.write)
    shell.events.register("pre_run_cell", lambda *_: written.clear())


if __name__ == "__main__" and "get_ipython" in globals():  # IPython's start-up run
    cap_output(get_ipython(), (sys.stdout, sys.stderr),  # noqa: F821 (IPython's)
               int(os.environ.get(OUTPUT_LIMIT_ENV, "2000000")))
    del cap_output, OUTPUT_LIMIT_ENV  # out of the student's namespace
