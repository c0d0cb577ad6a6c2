"""The exit codes of `tramproof`: one per verdict that a fuzzing farm acts on."""

OK = 0  # nothing failed
FAILED = 1  # the kernel failed: a report for each failure
USAGE = 2  # bad usage or bad input: refused before anything ran, nothing changed
STOPPED = 3  # SIGINT or SIGTERM stopped the run: what it found is reported
# could not answer: infrastructure down (example database, disk, report
# directory), a worker lost or killed past its time bound, or a budget that
# ran out before one example
UNANSWERED = 4

HELP = f"""exit codes:
  {OK}  nothing failed (scenarios: fixed passed; replay: the program held)
  {FAILED}  the kernel failed: reports written (replay: the program still fails)
  {USAGE}  bad usage or bad input: refused before anything ran, nothing changed
  {STOPPED}  stopped by SIGINT or SIGTERM: the reports written are whole
  {UNANSWERED}  could not answer: infrastructure down, a worker lost or over its
     time bound, or a budget too small for one example
"""
