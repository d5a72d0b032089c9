"""What the harness speaks: fresh generated text per round (`generator`), and the built-in and user files
(`builtin`) for the repeated-text (warm-cache) workload."""

from bench.texts.builtin import BUILTIN_TEXTS, read_text, split_sentences, text_path, text_sha
from bench.texts.generator import TEXT_CLASSES, FileTexts, SentenceGenerator

__all__ = ["BUILTIN_TEXTS", "TEXT_CLASSES", "FileTexts", "SentenceGenerator", "read_text", "split_sentences",
           "text_path", "text_sha"]
