"""What the python suites under test/ print: one "ok - ..." / "not ok - ..." line per
check, "# ..." lines for figures and notes, and a last line "N passed, M failed"."""
import os

passed = 0
failed = 0


def check(name, good, detail=None):
    """Count and print one check; detail is printed when it fails (or with PT_VERBOSE)."""
    global passed, failed
    if good:
        passed += 1
        print("ok - " + name, flush=True)
    else:
        failed += 1
        print("not ok - " + name, flush=True)
    if detail and (not good or os.environ.get("PT_VERBOSE")):
        for line in str(detail).rstrip().splitlines():
            print("#   " + line, flush=True)
    return good


def note(text):
    for line in str(text).rstrip().splitlines():
        print("# " + line, flush=True)


def summary():
    """Print the last line; True when every check passed."""
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return failed == 0
