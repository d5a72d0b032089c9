"""compile: torch.compile of the flow and decoder, dynamic shapes; rebuilt in every new process."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import BuildContext, Switch, flag

# Not measured by the calibration on a CPU: where it was measured it never paid (0.98x on an AMD EPYC Zen 3 after a
# 59 s build; 0.96x after 28 s with oneDNN and ATen capped to AVX2), and on torch 2.13.0+cpu with AVX-512 its
# dynamic-shape flow aborted the whole process on its first call ("free(): invalid pointer"), which no try/except
# can catch. The ablations (+tier=baseline+compile) still measure it, each in a worker process of its own.
COMPILE_ON_CPU = False


class Compile(Switch):
    name = "compile"
    settings = (flag("compile", "torch.compile the flow and decoder; 'auto' = keep only if it pays", auto=True),)
    acts_on = ("model",)
    calibrated = True
    calibration_order = 90
    builds_per_process = True  # the calibration checks fresh lengths and that its build is repaid

    def skip(self, tier: Any, device: Any) -> str | None:
        if device.type == "cpu" and not COMPILE_ON_CPU:
            return ("not measured on a CPU: it never paid where measured (0.96-0.98x after 28-59 s builds) and its "
                    "dynamic-shape build can abort the process (torch 2.13, AVX-512); measure it alone with "
                    "+tier=baseline+compile")
        return None

    def transform(self, model: Any, tier: Any, ctx: BuildContext) -> Any:
        from tts_core.tiers.precision import apply_compile, with_own_modules

        return apply_compile(with_own_modules(model))


SWITCH = Compile()
