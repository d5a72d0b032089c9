"""No switch setting is read by name in tts_core outside its own switch's file and the loops over the registry.

A setting read by name elsewhere (`tier.max_batch`, `parts.audio_cache`) is a place a switch acts that its own file
does not show: adding or changing a switch would mean finding that place too. The walk counts, in every tts_core
module but those under `tiers/switches/`, the attribute reads named after a `TierConfig` setting on an object whose
name says it is a tier or the engine's parts (`tier.x`, `self.tier.x`, `cand_tier.x`, `parts.x`; calls such as
`re.compile(...)` are not reads), and `getattr(obj, "<setting>")`; it allows `ALLOWANCE` of them."""

from __future__ import annotations

import ast
from pathlib import Path

import tts_core
from tts_core.tiers.switches import SETTINGS

ROOT = Path(tts_core.__file__).parent
ALLOWANCE = 6  # left: the audio cache's key (the precision), the stored calibration's key (the precision candidates)


def setting_reads(root: Path = ROOT) -> list[str]:
    """`path:line: expression` for every read of a switch setting by name, outside `tiers/switches/`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if (root / "tiers" / "switches") in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and node.attr in SETTINGS
                    and id(node) not in called and any(w in ast.unparse(node.value).lower() for w in ("tier", "parts"))):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {ast.unparse(node)}")
            elif (isinstance(node, ast.Call) and ast.unparse(node.func) == "getattr" and len(node.args) >= 2
                  and isinstance(node.args[1], ast.Constant) and node.args[1].value in SETTINGS):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_settings_are_read_by_name_only_in_their_switches() -> None:
    reads = setting_reads()
    assert len(reads) <= ALLOWANCE, (f"{len(reads)} reads of switch settings by name outside tts_core/tiers/switches/ "
                                     f"(allowed {ALLOWANCE}); move each into its switch's hook:\n" + "\n".join(reads))


def test_the_walk_finds_reads_and_not_calls(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "engine.py").write_text(
        "import re\n"
        "def f(tier, parts):\n"
        "    pattern = re.compile('x')\n"
        "    return tier.max_batch if self.tier.batch_sentences else getattr(parts, 'audio_cache')\n")
    assert sorted(setting_reads(tmp_path / "pkg")) == [
        "pkg/engine.py:4: getattr(parts, 'audio_cache')", "pkg/engine.py:4: self.tier.batch_sentences",
        "pkg/engine.py:4: tier.max_batch"]
