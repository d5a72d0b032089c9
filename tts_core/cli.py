"""`python -m tts_core "Some text." -o out.wav`: text or a text file to a WAV file."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

from tts_core.errors import TTSError
from tts_core.tiers import SWITCH_NAMES, TIER_NAMES
from tts_core.voices import VOICE_NAMES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tts_core",
        description="Speak text with Piper's en_US joe voice, ported to PyTorch, and write a 16-bit mono WAV.",
        epilog="Examples:\n  python -m tts_core \"Hello there.\" -o hello.wav\n"
        "  python -m tts_core --file book.txt -o book.wav --tier advanced",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("text", nargs="?", help="text to speak (or use --file)")
    p.add_argument("-f", "--file", type=Path, help="UTF-8 text file, read and spoken lazily (any size)")
    p.add_argument("-o", "--output", type=Path, default=Path("out.wav"), help="WAV file to write (default: out.wav)")
    p.add_argument("--voice", default="joe-medium", choices=VOICE_NAMES,
                   help="joe-medium: the real voice; tiny: random weights for tests (its audio is noise)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--tier", default="optimized",
                   help=f"optimization preset: {', '.join(TIER_NAMES)}; or an ablation '<tier>+<switch>' / "
                   f"'<tier>-<switch>' with a switch in {', '.join(SWITCH_NAMES)} (default: optimized)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling noise; same text and seed give the same audio")
    p.add_argument("--noise-scale", type=float, default=None, help="prior noise (voice default 0.667; 0 = deterministic)")
    p.add_argument("--length-scale", type=float, default=None, help="speaking slowness (voice default 1.0; 1.2 = slower)")
    p.add_argument("--noise-w", type=float, default=None, help="duration noise (voice default 0.8; 0 = deterministic)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(message)s")
    if (args.text is None) == (args.file is None):
        print("error: give either TEXT or --file FILE (not both, not neither). See --help.", file=sys.stderr)
        return 2
    out: Path = args.output
    if out.parent and not out.parent.exists():
        print(f"error: the output folder {_shown(out.parent)} does not exist; create it or choose another -o path.", file=sys.stderr)
        return 2
    from tts_core.engine import Engine

    scales = {"noise_scale": args.noise_scale, "length_scale": args.length_scale, "noise_w": args.noise_w}
    tmp: Path | None = None
    try:
        t0 = time.perf_counter()
        with Engine.load(voice=args.voice, device=args.device, tier=args.tier, seed=args.seed) as engine:
            chunks = engine.stream_file(args.file, **scales) if args.file else engine.stream(args.text, **scales)
            n_samples = 0
            # A fresh, exclusively created temporary file beside the output (never a fixed name that a
            # planted symlink could redirect), moved into place only when complete.
            fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
            tmp = Path(tmp_name)
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)  # the permissions a plain open() would give, not mkstemp's 0600
            with os.fdopen(fd, "wb") as handle, wave.open(handle, "wb") as wav:  # memory stays bounded
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(engine.sample_rate)
                for chunk in chunks:
                    wav.writeframes(chunk.to_int16().tobytes())
                    n_samples += len(chunk.samples)
            tmp.replace(out)
            audio_s = n_samples / engine.sample_rate
            wall = time.perf_counter() - t0
        if not args.quiet:
            print(f"wrote {_shown(out)}: {audio_s:.2f} s of audio in {wall:.2f} s (tier {args.tier}, {args.device})")
        return 0
    except (TTSError, ValueError, OSError) as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        print(_shown(f"error: {exc}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        print("interrupted; no output written", file=sys.stderr)
        return 130


def _shown(value: object) -> str:
    """`value` as text any terminal can print: characters that are not encodable (a file name's
    undecodable bytes arrive as lone surrogates) are shown as backslash escapes."""
    return str(value).encode("utf-8", errors="backslashreplace").decode("utf-8")


if __name__ == "__main__":
    sys.exit(main())
