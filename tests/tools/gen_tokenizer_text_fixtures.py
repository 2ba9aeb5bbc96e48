#!/usr/bin/env python3
"""Writes tests/fixtures/tokenizers/text_cases.json: what Python's own html.unescape, unicodedata.normalize
("NFC") and str.lower() / str.strip() return for inputs chosen to hit their edge cases. The C++ text
helpers of the CLIP tokenizer are checked against it (an independent computation: CPython, not our port).

    python3 tests/tools/gen_tokenizer_text_fixtures.py
"""
import html
import json
import os
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "tokenizers", "text_cases.json")

UNESCAPE = [
    "no entities at all", "&amp; &lt;b&gt; &quot;q&quot; &#39;", "&amp", "&ampx;", "&amp;amp;", "&AMP;", "&Amp;",
    "&notit;", "&notin;", "&not", "&copy2023", "&copy;2023", "&#65;&#x42;&#X43;", "&#65", "&#x41", "&#0;",
    "&#128;&#x80;&#x9F;", "&#xD800;", "&#1114111;", "&#1114112;", "&#99999999999999999999999;", "&#xFFFE;",
    "&#11;", "&#x;", "&#;", "&;", "& amp;", "&&amp;", "&abcdefghijklmnopqrstuvwxyzabcdefghij;",
    "&CounterClockwiseContourIntegral;", "&NotNestedGreaterGreater;", "&caf\u00e9;", "x &lt", "&lt3",
    "&frac12; &frac12 &frac123;", "&nbsp;&ensp;&emsp;", "&#x1F642;", "&Jscr;ohn &HilbertSpace;ancock",
]
NFC = [
    "cafe\u0301", "caf\u00e9", "A\u030a \u212b \u00c5", "\u1e0b\u0323", "d\u0307\u0323", "d\u0323\u0307",
    "q\u0307\u0323", "\u1100\u1161\u11a8", "\u1100\u1161 \uac00\u11a8", "\u0344", "e\u0301\u0301",
    "\u0041\u0308\u0304", "\u00e4\u0304", "a\u0328\u0301", "\u0915\u093c", "\u09c7\u09be", "\u2126 \u212a",
    "\u1e9b\u0323", "\u0061\u05ae\u0300\u0315\u0062", "ni\u0303o \u00f1", "\U0001d15e", "\u0f73", "\u30ac \u30ab\u3099",
    "\ufb01 \u2460 \uff21", "\U0001F642 emoji", "",
]
LOWER = [
    "HELLO World", "\u039f\u0394\u039f\u03a3", "\u03a3\u0391 \u03a3", "\u0391\u03a3.\u03a3", "\u0391\u03a3'",
    "\u0391\u03a3\u0301", "\u03a3", "A\u03a3b", "\u0130stanbul", "\u1e9e\u00df", "\u01c5 \u01c4 \u01c6",
    "\u0410\u0411\u0412 \u0401", "\u10a0\u13a0\u1c90", "\uff21\uff22", "\U00010400\U0001e900", "\u2160\u24b6",
    "\u212a\u212b\u2126", "\u0049\u0307", "A\u00adB\u03a3\u00ad", "\u00c9COLE",
]
STRIP = [
    "  padded  ", "\t\n\x0b\x0c\r x \x1c\x1d\x1e\x1f", "\u00a0\u2000\u3000x\u2028\u2029\u0085",
    "\u200bx\u200b", "\ufeffx", "\u180ex\u180e", "",
]


def main():
    cases = {
        "python": sys.version.split()[0],
        "unicode": unicodedata.unidata_version,
        "html_unescape": [{"input": s, "expected": html.unescape(s)} for s in UNESCAPE],
        "nfc": [{"input": s, "expected": unicodedata.normalize("NFC", s)} for s in NFC],
        "lower": [{"input": s, "expected": s.lower()} for s in LOWER],
        "strip": [{"input": s, "expected": s.strip()} for s in STRIP],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=True, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
