"""Tools that turn the nnkit assignments into a graded course.

    autograder release <id> [--check]   build release/<id> from source/<id> (autograder.release)
    autograder grade <id> --submissions DIR --out OUT [--workers N]
                                        autograde a class (autograder.grading)
    autograder samples <id> --out DIR   write reference, blank and partial sample submissions
    autograder check <id>               grade the samples and verify every score

The notebooks' hidden test sections call autograder.checks, which runs the assignment's own
checks from assignments/<id>/checks/.

An assignment's facts live in assignments/<id>/manifest.toml (see autograder.manifest).
"""
