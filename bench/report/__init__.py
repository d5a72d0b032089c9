"""The HTML report: `python -m bench.report RESULTS... [--out DIR]` or `write_report(paths, out_dir)`.

Modules: `load` (read and merge results), `analysis` (headline, verdicts, peers, ablations: read from the
rows, never recomputed), `tables`, `paths` (files a row names, read only inside the results folders),
`peaks` (the precision and peak of each roofline stage), `plot` + `charts` (PNG per chart), `audio` (samples), `html` (page and escaping), `build` (`write_report`),
`cli`, `synthetic` (schema-v2 rows for tests and `--demo`).
"""

from bench.report.build import write_report

__all__ = ["write_report"]
