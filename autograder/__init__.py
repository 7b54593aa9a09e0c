"""Tools that turn the nnkit assignments into a graded course.

    autograder release <id> [--check]   build release/<id> from source/<id> (see autograder.release)

An assignment's facts live in assignments/<id>/manifest.toml (see autograder.manifest).
"""
