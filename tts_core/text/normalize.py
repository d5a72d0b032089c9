"""Real-world text to speakable English words, before espeak-ng sees it.

`normalize` runs three passes: unicode cleanup (quotes, dashes, control characters), a table of
(regex, replacement) rules in order (URLs and e-mail first, plain numbers last), then whitespace
and punctuation tidying. A paragraph break (blank line) survives as a single "\n", which the
sentence splitter treats as a sentence end; a single line break is a space (hard-wrapped prose).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from tts_core.text.numbers import cardinal, decimal, digits_to_words, ordinal, year

_MONTHS = "January February March April May June July August September October November December".split()
_MONTH_ABBR = {m[:3].lower(): m for m in _MONTHS} | {"sept": "September"}
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
             "£": ("pound", "pounds", "penny", "pence"), "¥": ("yen", "yen", "sen", "sen")}
_ABBREVIATIONS = {
    "mr": "Mister", "mrs": "Missus", "ms": "Miz", "dr": "Doctor", "prof": "Professor", "jr": "Junior",
    "sr": "Senior", "vs": "versus", "etc": "et cetera", "approx": "approximately", "mt": "Mount",
    "inc": "Incorporated", "ltd": "Limited", "co": "Company", "ave": "Avenue", "dept": "Department",
}
_TRANSLATE = str.maketrans({
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"',
    "«": '"', "»": '"', "…": "...", "\t": " ", "\u00a0": " ", "\u2028": "\n", "\u2029": "\n\n", "\r": "\n",
    "×": " times ", "÷": " divided by ", "±": " plus or minus ", "≈": " approximately ", "≠": " not equal to ",
})
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str] | str]


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _say_number(text: str) -> str:
    """A numeral with optional commas/decimals as words."""
    return decimal(text) if "." in text else cardinal(_int(text))


def _spell_host(text: str) -> str:
    """ "www.example.co.uk/path" -> "example dot co dot uk slash path"."""
    host, _, path = text.partition("/")
    parts = [p for p in host.lower().split(".") if p and p != "www"]
    spoken = " dot ".join(parts)
    words = [w for w in re.split(r"[/_\-]+", path.split("?")[0].split("#")[0]) if w.isalpha()]
    return spoken + "".join(f" slash {w}" for w in words)


def _url(m: re.Match[str]) -> str:
    return " " + _spell_host(re.sub(r"^[a-z]+://", "", m.group(0), flags=re.I).rstrip(".,;:")) + " "


def _email(m: re.Match[str]) -> str:
    user = re.sub(r"[._+\-]+", " dot ", m.group(1)).replace(" dot  dot ", " dot ")
    return f" {user} at {_spell_host(m.group(2))} "


def _iso_date(m: re.Match[str]) -> str:
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return f"{cardinal(y)}, {cardinal(mo)}, {cardinal(d)}"
    return f"{_MONTHS[mo - 1]} {ordinal(d)}, {year(y)}"


def _month_day(m: re.Match[str]) -> str:
    month = _MONTH_ABBR[m.group(1)[:3].lower()]
    return f"{month} {ordinal(int(m.group(2)))}"


def _time(m: re.Match[str]) -> str:
    hours, minutes, suffix = int(m.group(1)), int(m.group(2)), (m.group(3) or "").replace(".", "").lower()
    spoken = cardinal(hours)
    if minutes == 0:
        spoken += "" if suffix else " o'clock"
    elif minutes < 10:
        spoken += f" oh {cardinal(minutes)}"
    else:
        spoken += f" {cardinal(minutes)}"
    period = "." if (m.group(3) or "").endswith(".") else ""  # "p.m." may also end the sentence
    return spoken + (f" {' '.join(suffix.upper())}{period}" if suffix else "")


def _money(m: re.Match[str]) -> str:
    one, many, sub_one, sub_many = _CURRENCY[m.group(1)]
    whole, frac, scale = _int(m.group(2)), m.group(3), m.group(4)
    if scale:
        amount = decimal(m.group(2) + (frac or "")) if frac else cardinal(whole)
        return f"{amount} {scale.lower()} {many}"
    words = f"{cardinal(whole)} {one if whole == 1 else many}"
    cents = int((frac or ".0")[1:3].ljust(2, "0"))
    if cents:
        cent_words = f"{cardinal(cents)} {sub_one if cents == 1 else sub_many}"
        words = cent_words if whole == 0 else f"{words} and {cent_words}"
    return words


def _year(m: re.Match[str]) -> str:
    spoken = year(int(m.group(1)))
    if m.group(0).endswith("s"):  # the 1990s
        spoken = spoken[:-1] + "ies" if spoken.endswith("y") else spoken + "s"
    return spoken


def _abbreviation(m: re.Match[str]) -> str:
    word = m.group(1)
    return _ABBREVIATIONS[word.lower()] + (" " if m.group(2) else ".")


def _saint_or_street(m: re.Match[str]) -> str:
    return "Saint " if m.group(1) else "Street."


_RULES: list[Rule] = [
    (re.compile(r"\b([\w.+\-]+)@([\w\-]+(?:\.[\w\-]+)+)\b"), _email),
    (re.compile(r"(?:\b[a-z][a-z0-9+.\-]*://|\bwww\.)[^\s<>\"]+", re.I), _url),
    (re.compile(r"\b[a-z0-9\-]+\.(?:com|org|net|edu|gov|io|ai|co\.uk|dev)\b(?:/[^\s]*)?", re.I), _url),
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), _iso_date),
    (re.compile(r"\b(" + "|".join(m[:3] for m in _MONTHS) + r")[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?!:)"), _month_day),
    (re.compile(r"\b(\d{1,2}):(\d{2})(?::\d{2})?(?:\s*([ap](?:\.m\.|m\b)))?", re.I), _time),
    (re.compile(r"([$€£¥])\s?(\d[\d,]*)(\.\d+)?(?:\s?(thousand|million|billion|trillion)\b)?", re.I), _money),
    (re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?%"), lambda m: f"{_say_number(m.group(1))} percent"),
    (re.compile(r"°\s?([CF])\b"), lambda m: " degrees " + ("Celsius" if m.group(1) == "C" else "Fahrenheit")),
    (re.compile(r"°"), " degrees "),
    (re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.I), lambda m: ordinal(int(m.group(1)))),
    (re.compile(r"\b[Ee]\.\s?[Gg]\.(?=\s|$)"), "for example,"),
    (re.compile(r"\b[Ii]\.\s?[Ee]\.(?=\s|$)"), "that is,"),
    (re.compile(r"\b([ap])\.m\.(?=\s|$)", re.I), lambda m: f"{m.group(1).upper()} M."),
    (re.compile(r"\bSt\.(\s+(?=[A-Z]))?"), _saint_or_street),
    (re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.(\s+(?=[A-Z0-9]))?", re.I), _abbreviation),
    (re.compile(r"\b(" + "|".join(_MONTH_ABBR) + r")\.(?=\s)", re.I), lambda m: _MONTH_ABBR[m.group(1).lower()]),
    (re.compile(r"(?<=\d)\s?\+\s?(?=\d)"), " plus "),
    (re.compile(r"\s?=\s?"), " equals "),
    (re.compile(r"\s?&\s?"), " and "),
    (re.compile(r"(?<=\s)@(?=\s?\w)|^@"), "at "),
    (re.compile(r"#(?=\d)|\bNo\.\s?(?=\d)", re.I), "number "),
    (re.compile(r"(?<=\d)\s?[-" + _DASHES + r"]\s?(?=\d)"), " to "),  # ranges: 10-20
    (re.compile(r"(?<![\w.])-(?=\d)"), "minus "),
    (re.compile(r"\b\d+(?:\.\d+){2,}\b"), lambda m: " point ".join(cardinal(int(p)) for p in m.group(0).split("."))),
    (re.compile(r"\b\d{1,3}(?:,\d{3})+(?:\.\d+)?\b|\b\d+\.\d+\b"), lambda m: _say_number(m.group(0))),
    (re.compile(r"\b\d{16,}\b"), lambda m: digits_to_words(m.group(0))),
    (re.compile(r"\b0\d+\b"), lambda m: digits_to_words(m.group(0))),  # leading zero: a code, not a count
    (re.compile(r"\b(1[1-9]\d\d|20\d\d)s?\b(?![.,]\d)"), _year),
    (re.compile(r"\d+"), lambda m: f" {cardinal(int(m.group(0)))} "),
    (re.compile(r"[" + _DASHES + r"]+|\s--+\s|\s-\s"), ", "),
]

_TIDY: list[Rule] = [
    (re.compile(r"[ ]*\n[ ]*\n\s*"), "\x00"),  # paragraph break, kept (NUL is gone by now)
    (re.compile(r"\s+"), " "),
    (re.compile(r" ?\x00 ?"), "\n"),
    (re.compile(r" +([,.;:!?])"), r"\1"),
    (re.compile(r"([!?])[!?]+"), r"\1"),
    (re.compile(r"\.{4,}"), "..."),
    (re.compile(r",+(?=[,.;:!?])|([;:]),+"), r"\1"),
    (re.compile(r"^[\s,;:]+"), ""),
]


def clean_unicode(text: str) -> str:
    """NFKC, typographic quotes/dashes/ellipsis to ASCII, control and format characters removed.

    Tabs become spaces; line breaks are kept for `normalize` to sort into spaces or paragraph ends.
    """
    text = unicodedata.normalize("NFKC", text.translate(_TRANSLATE)).translate(_TRANSLATE)
    return "".join(
        ch for ch in text if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )


def _expand(text: str) -> str:
    """Apply the rule table in order, then drop the symbols left over (emoji, dingbats)."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return "".join(" " if unicodedata.category(ch) in ("So", "Sk") else ch for ch in text)


def normalize(text: str) -> str:
    """Real-world text to speakable English words: numbers, money, dates, times, abbreviations,
    symbols, URLs and e-mail spelled out; quotes, dashes and whitespace tidied.

    Paragraph breaks (blank lines) come back as "\n"; everything else is on one line.
    """
    text = _expand(clean_unicode(text))
    for pattern, replacement in _TIDY:
        text = pattern.sub(replacement, text)
    return text.strip()
