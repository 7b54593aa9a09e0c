"""Grading submissions: `autograder grade <id>` and `autograder check <id>`.

Each piece has one job:

    intake/           read an LMS download (one reader per layout) to one entry per student
    deadlines.py      due dates, extensions, the late policy: how late, and what it costs
    submissions.py    one student's entry, and unpacking it safely
    course.py         the scratch nbgrader course folder a submission is graded in
    preprocessors.py  our steps in nbgrader's autograde pipeline (skip slow cells)
    task.py           grade ONE submission: a self-contained, picklable task -> result
    batch.py          run the tasks (in N local processes), then record every result
    records.py        write the results: gradebook, CSV files, feedback, autograded copies
    report.py         the readable report and the score histogram
    samples.py        reference, blank and partial submissions built from the repo
    check.py          grade the samples and verify every score is what it must be

Only the parent process writes results, serially, after the tasks return: no two
processes ever write the same gradebook or file.
"""
