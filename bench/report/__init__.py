"""The HTML report: `python -m bench.report RESULTS... [--out DIR]` or `write_report(paths, out_dir)`.

Modules: `load` (read and merge results), `analysis` (speedups, fits, verdicts), `charts` (PNG per
chart), `tables`, `audio` (samples), `html` (page and escaping), `build` (`write_report`), `cli`.
"""

from bench.report.build import write_report

__all__ = ["write_report"]
