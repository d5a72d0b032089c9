"""`python -m bench.sweep`: the command line (`__main__`), the typed config (`config`), what to measure (`plan`)
and the driver that runs it (`run`)."""
