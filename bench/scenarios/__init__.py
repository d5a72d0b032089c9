"""Ways of measuring: each a `Scenario` (`base.py`) that the sweep builds from its `scenario` config group and runs.

    rounds.py           paired rounds (the default): every contender speaks the same fresh text each round, in turn
    loadgen.py          serving under load with MLPerf LoadGen: singlestream, offline, server
    concurrency.py      the concurrency curve: closed-loop clients at 1, 2, 4, 8, 16 concurrent streams
    each_contender.py   the loop the serving scenarios share: one contender at a time in its own worker
    config.py           the group's schemas (`base_rounds`, `base_loadgen`, `base_concurrency`), in Hydra's ConfigStore

A new way of measuring is a new file here with a `Scenario` subclass, and a YAML entry in `configs/scenario/`
whose `_target_` names it (docs/measuring.md, "Adding a scenario"). This package imports nothing at load time,
so the sweep's schemas (`bench.sweep.config`) can store `config.py`'s without importing the scenarios themselves.
"""
