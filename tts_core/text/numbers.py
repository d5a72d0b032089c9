"""Numbers to English words: cardinals, ordinals, decimals, years, digit strings."""

from __future__ import annotations

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_MAX_CARDINAL = 10**15  # beyond this, digits are read one by one
_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth",
    "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}


def _under_thousand(n: int) -> str:
    """Words for 0 < n < 1000."""
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words.append(f"{_ONES[hundreds]} hundred")
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest:
        words.append(_ONES[rest])
    return " ".join(words)


def digits_to_words(digits: str) -> str:
    """Read a digit string one digit at a time: "0042" -> "zero zero four two"."""
    return " ".join(_ONES[int(d)] for d in digits if d.isdigit())


def cardinal(n: int) -> str:
    """An integer in words: 1234 -> "one thousand two hundred thirty-four"; negatives get "minus"."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n == 0:
        return "zero"
    if n >= _MAX_CARDINAL:
        return digits_to_words(str(n))
    words: list[str] = []
    for value, name in _SCALES:
        count, n = divmod(n, value)
        if count:
            words.append(f"{_under_thousand(count)} {name}")
    if n:
        words.append(_under_thousand(n))
    return " ".join(words)


def ordinal(n: int) -> str:
    """An integer as an ordinal: 21 -> "twenty-first", 100 -> "one hundredth"."""
    words = cardinal(n)
    head, sep, last = words.rpartition("-") if "-" in words.rsplit(" ", 1)[-1] else words.rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def decimal(text: str) -> str:
    """A decimal numeral as read aloud: "3.14" -> "three point one four", "-0.5" -> "minus zero point five"."""
    sign = "minus " if text.startswith("-") else ""
    whole, _, frac = text.lstrip("+-").partition(".")
    head = cardinal(int(whole.replace(",", "") or "0"))
    return sign + head + (f" point {digits_to_words(frac)}" if frac else "")


def year(n: int) -> str:
    """A year as read aloud: 1999 -> "nineteen ninety-nine", 2005 -> "two thousand five", 1900 -> "nineteen hundred"."""
    if not 1000 <= n <= 9999 or (2000 <= n <= 2009) or n % 1000 == 0:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} {'oh ' + _ONES[low] if low < 10 else cardinal(low)}"
