"""Open a crmlake run report in headless Chromium and check it as a reader would.

Usage: check_report.py REPORT.html OUT_DIR SECTION_ID...

Checks, each failing with a message on stderr and exit status 1:
- the page logs no console error and throws no exception;
- no request leaves the page (only the file itself is loaded: no http(s),
  no other file, no font or script fetched);
- every SECTION_ID is a <section> on the page;
- every <svg> has drawn content and a non-empty box inside the viewport
  (nothing wider than the page);
- printed (A4, print CSS), every chart is shorter than a page, so
  `break-inside: avoid` can keep it whole.
Writes OUT_DIR/report.png (full page) and OUT_DIR/report.pdf (A4 print).

Needs playwright (PyPI, 1.65.2, installed by .ci/run) and Debian's chromium
at /usr/bin/chromium (or $CHROMIUM); playwright's own browser download is not used.
"""

import os
import sys

from playwright.sync_api import sync_playwright

# The flags this machine's closed network needs (no background fetches).
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A4 at 96 px per inch, less the report's 12 mm print margins.
A4_PRINTABLE_HEIGHT_PX = (297 - 24) / 25.4 * 96


def main() -> int:
    report, out_dir, sections = sys.argv[1], sys.argv[2], sys.argv[3:]
    url = "file://" + os.path.abspath(report)
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on(
            "console",
            lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

        def request(r):
            if r.url != url and not r.url.startswith("data:"):
                problems.append(f"request left the page: {r.url}")

        page.on("request", request)
        page.goto(url, wait_until="load")

        present = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
        for s in sections:
            if s not in present:
                problems.append(f"section '{s}' missing (present: {present})")

        width = page.evaluate("document.documentElement.clientWidth")
        svgs = page.eval_on_selector_all(
            "svg",
            """els => els.map(e => {
                 const r = e.getBoundingClientRect();
                 return {label: e.getAttribute('aria-label'), x: r.left, w: r.width, h: r.height,
                         drawn: e.querySelectorAll('rect,polyline,polygon,circle,line').length};
               })""",
        )
        if not svgs:
            problems.append("no charts on the page")
        for s in svgs:
            if s["drawn"] == 0 or s["w"] <= 0 or s["h"] <= 0:
                problems.append(f"empty chart: {s}")
            if s["x"] < 0 or s["x"] + s["w"] > width + 0.5:
                problems.append(f"chart outside the viewport (width {width}): {s}")
        # The table behind a chart opens, and a click on a header sorts it
        # (the page's only script).
        page.click("details summary >> nth=0")
        page.click("details[open] table.sortable th >> nth=-1")
        values = page.eval_on_selector_all(
            "details[open] table.sortable tbody tr td:last-child",
            "els => els.map(e => parseFloat(e.getAttribute('data-v')))",
        )
        if values != sorted(values):
            problems.append(f"a header click did not sort its column: {values}")

        page.screenshot(path=os.path.join(out_dir, "report.png"), full_page=True)
        page.emulate_media(media="print")
        tall = page.eval_on_selector_all(
            "figure svg",
            f"els => els.filter(e => e.getBoundingClientRect().height > {A4_PRINTABLE_HEIGHT_PX})"
            ".map(e => e.getAttribute('aria-label'))",
        )
        for label in tall:
            problems.append(f"chart taller than an A4 page in print: {label}")
        page.pdf(path=os.path.join(out_dir, "report.pdf"), format="A4", print_background=True)
        browser.close()
    print(f"{len(svgs)} charts, {len(present)} sections checked; screenshot and PDF in {out_dir}")
    for p_ in problems:
        print(p_, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
