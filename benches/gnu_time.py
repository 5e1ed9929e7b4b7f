"""Timing whole processes with GNU time, shared by the benchmark scripts
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


def best_of(commands, repeats):
    """Run each `(name, cmd)` of `commands` in turn, `repeats` times:
    {name: (best wall seconds, largest peak RSS MiB)} and {name: the last
    run's stdout}."""
    best, outputs = {}, {}
    for _ in range(repeats):
        for name, cmd in commands:
            seconds, rss, out = timed(cmd)
            old = best.get(name)
            best[name] = (min(seconds, old[0]), max(rss, old[1])) if old else (seconds, rss)
            outputs[name] = out
    return best, outputs
