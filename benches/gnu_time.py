"""Timing a whole process with GNU time, shared by the benchmark scripts
(`from gnu_time import timed`; they run as `python benches/<script>.py`,
which puts this folder on the import path)."""
import re
import subprocess
import sys


def timed(cmd):
    """Run `cmd` under GNU time: (wall seconds, peak RSS MiB, stdout).
    Exits naming the command when it fails."""
    out = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M"] + cmd,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{out.stdout}\n{out.stderr}")
    m = re.search(r"TIME ([0-9.]+) ([0-9]+)", out.stderr)
    return float(m.group(1)), int(m.group(2)) / 1024, out.stdout
