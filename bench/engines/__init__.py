"""Engines the harness can measure, each behind the `BenchEngine` adapter protocol (`base.py`).

Pick one with the Hydra group `engine` (`configs/engine/<name>.yaml`, whose `_target_` names the class).
"""
