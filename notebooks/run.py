"""Execute every notebook in this folder top to bottom; fail on the first
cell that raises. Run by scripts/test-python (and so by CI).

    python notebooks/run.py                  # execute, outputs discarded
    python notebooks/run.py --figures DIR    # also save each notebook's charts as PNG in DIR

Notebooks are committed without outputs: this refuses one that has any, so
stale results never reach the repository (clear them with
`jupyter nbconvert --clear-output --inplace notebooks/*.ipynb`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent


def committed_outputs(nb) -> list[int]:
    return [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", help="folder to save the notebooks' charts in")
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: all)")
    args = parser.parse_args()
    if args.figures:
        os.environ["CRMLAKE_FIGURES"] = str(Path(args.figures).resolve())
    paths = [Path(p) for p in args.notebooks] or sorted(HERE.glob("*.ipynb"))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    failed = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        stale = committed_outputs(nb)
        if stale:
            print(f"FAILED {path.name}: cells {stale} have committed outputs; clear them", file=sys.stderr)
            failed += 1
            continue
        start = time.monotonic()
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}})
        try:
            client.execute()
        except CellExecutionError as e:
            print(f"FAILED {path.name}:\n{e}", file=sys.stderr)
            failed += 1
            continue
        cells = sum(1 for c in nb.cells if c.cell_type == "code")
        print(f"ok {path.name}: {cells} code cells in {time.monotonic() - start:.1f} s")
    print(f"notebooks: {len(paths) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
