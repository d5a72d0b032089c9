"""`python -m bench.sweep`: the command line (`__main__`), the typed config (`config`), what to measure (`plan`),
and the stages the scenarios (`bench/scenarios/`) run: workers (`launch`), texts (`texts`), machine peaks (`peaks`),
untimed passes (`untimed`), heard quality (`quality`), rows (`rows`), the report or summary (`summary`)."""
