"""Phonemes to the voice's integer ids, in Piper's layout."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from tts_core.errors import VoiceError

BOS = "^"  # beginning of sentence
EOS = "$"  # end of sentence
PAD = "_"  # follows every symbol, BOS included

_LOGGER = logging.getLogger(__name__)
_WARNED: set[str] = set()  # symbols already reported missing, once per process


class PhonemeIdMap:
    """The voice's `phoneme_id_map`: each phoneme (one codepoint) to a list of ids."""

    def __init__(self, phoneme_id_map: Mapping[str, Sequence[int]]) -> None:
        """Take the map from the voice JSON; it must hold BOS `^`, EOS `$` and pad `_`."""
        missing = [s for s in (BOS, EOS, PAD) if s not in phoneme_id_map]
        if missing:
            raise VoiceError(
                f"phoneme_id_map lacks the special symbols {missing}; use the voice's own .onnx.json config."
            )
        self._map: dict[str, list[int]] = {k: [int(i) for i in v] for k, v in phoneme_id_map.items()}
        self._max_id = max((i for ids in self._map.values() for i in ids), default=0)

    @property
    def max_id(self) -> int:
        """The largest id in the map (the model's embedding table has at least `max_id + 1` rows)."""
        return self._max_id

    def __len__(self) -> int:
        """Number of symbols in the map."""
        return len(self._map)

    def __contains__(self, phoneme: object) -> bool:
        return phoneme in self._map

    def to_ids(self, phonemes: Sequence[str]) -> list[int]:
        """Ids for one sentence: BOS, pad, then each phoneme followed by pad, then EOS.

        A phoneme the map lacks is dropped and logged as a warning once per symbol per process.
        """
        pad = self._map[PAD]
        ids: list[int] = [*self._map[BOS], *pad]
        for phoneme in phonemes:
            found = self._map.get(phoneme)
            if found is None:
                if phoneme not in _WARNED:
                    _WARNED.add(phoneme)
                    _LOGGER.warning("Phoneme %r (U+%04X) is not in the voice's id map; dropped.", phoneme, ord(phoneme[0]) if phoneme else 0)
                continue
            ids.extend(found)
            ids.extend(pad)
        ids.extend(self._map[EOS])
        return ids
