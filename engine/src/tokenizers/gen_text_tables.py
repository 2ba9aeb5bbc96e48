#!/usr/bin/env python3
"""Generates the data tables of the CLIP text cleaner (Python standard library only).

    python3 engine/src/tokenizers/gen_text_tables.py   # rewrites unicode_tables.cpp and html_entities.cpp

The tables are *facts* taken from this Python's unicodedata / str / html modules, so the C++ cleaner
behaves as open_clip's Python code does on the same interpreter:
  - general categories L* and N* (the \\p{L} / \\p{N} classes of the pre-tokenisation regex) and Nd
    (the \\d of ftfy's terminal-escape pattern),
  - str.isspace() (Python's str.strip()),
  - str.lower() (full mappings) and the two predicates of its Final_Sigma rule, measured by asking
    str.lower() itself,
  - NFC data: canonical combining classes, full canonical decompositions, primary composites,
  - ftfy's width map (U+3000 and the NFKC forms of U+FF01..U+FFEF),
  - html.entities.html5, html's invalid numeric references, and ftfy's upper-case entity variants,
  - the windows-1252 meaning of the C1 controls U+0080..U+009F (ftfy's sloppy-windows-1252).
"""
import html
import html.entities
import os
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_CP = 0x110000


def is_surrogate(cp):
    return 0xD800 <= cp <= 0xDFFF


def ranges_of(pred):
    out = []
    start = None
    for cp in range(MAX_CP + 1):
        ok = cp < MAX_CP and not is_surrogate(cp) and pred(cp)
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    return out


def emit_ranges(name, ranges):
    lines = [f"const CodepointRange {name}[] = {{"]
    row = []
    for lo, hi in ranges:
        row.append(f"{{0x{lo:X}, 0x{hi:X}}}")
        if len(row) == 6:
            lines.append("    " + ", ".join(row) + ",")
            row = []
    if row:
        lines.append("    " + ", ".join(row) + ",")
    lines.append("};")
    lines.append(f"const std::size_t {name}_size = sizeof({name}) / sizeof({name}[0]);")
    return "\n".join(lines)


def cpp_u32(s):
    return "{" + ", ".join(f"0x{ord(c):X}" for c in s) + "}"


def cpp_utf8(s):
    out = []
    for b in s.encode("utf-8"):
        if 0x20 <= b < 0x7F and chr(b) not in '"\\?':
            out.append(chr(b))
        else:
            out.append(f"\\{b:03o}")  # octal: at most 3 digits, never runs into the next character
    return '"' + "".join(out) + '"'


def gen_unicode():
    cat = unicodedata.category
    letters = ranges_of(lambda cp: cat(chr(cp)).startswith("L"))
    numbers = ranges_of(lambda cp: cat(chr(cp)).startswith("N"))
    decimals = ranges_of(lambda cp: cat(chr(cp)) == "Nd")
    py_space = ranges_of(lambda cp: chr(cp).isspace())

    # str.lower(): every code point whose lower-case form differs (at most 3 code points).
    lower = []
    for cp in range(MAX_CP):
        if is_surrogate(cp):
            continue
        c = chr(cp)
        low = c.lower()
        if low != c:
            assert len(low) <= 3, (hex(cp), low)
            lower.append((cp, low))

    # Final_Sigma in str.lower(): "XΣ" -> final sigma iff X is cased and not case-ignorable;
    # "AXΣ" -> final sigma iff X is case-ignorable or cased. So the two predicates the rule uses are
    # measured exactly from this interpreter's lower().
    sigma, final = "\u03a3", "\u03c2"
    cased_not_ignorable = set()
    ignorable = set()
    for cp in range(MAX_CP):
        if is_surrogate(cp):
            continue
        c = chr(cp)
        t1 = (c + sigma).lower()[-1] == final
        t2 = ("A" + c + sigma).lower()[-1] == final
        if t1:
            cased_not_ignorable.add(cp)
        if t2 and not t1:
            ignorable.add(cp)
    # The following context uses the same predicates; check that on a sample.
    for cp in list(ignorable)[:50] + list(cased_not_ignorable)[:50]:
        c = chr(cp)
        assert (("A" + sigma + c).lower()[1] == final) == (cp not in cased_not_ignorable)
    cased_ranges = ranges_of(lambda cp: cp in cased_not_ignorable)
    ignorable_ranges = ranges_of(lambda cp: cp in ignorable)

    # NFC data.
    ccc = []
    run = None
    for cp in range(MAX_CP + 1):
        v = unicodedata.combining(chr(cp)) if cp < MAX_CP and not is_surrogate(cp) else 0
        if run and (v != run[2] or cp != run[1] + 1):
            if run[2]:
                ccc.append(run)
            run = None
        if v and run is None:
            run = [cp, cp, v]
        elif v:
            run[1] = cp
    if run and run[2]:
        ccc.append(run)

    decomp = []
    compose = []
    for cp in range(MAX_CP):
        if is_surrogate(cp) or 0xAC00 <= cp <= 0xD7A3:
            continue  # Hangul syllables are algorithmic
        c = chr(cp)
        d = unicodedata.normalize("NFD", c)
        if d != c:
            decomp.append((cp, d))
            raw = unicodedata.decomposition(c)
            if raw and not raw.startswith("<"):
                parts = [int(x, 16) for x in raw.split()]
                # primary composite: NFC recomposes the pair into this character
                if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == c:
                    compose.append((parts[0], parts[1], cp))
    compose.sort()
    max_decomp = max(len(d) for _, d in decomp)

    # ftfy fix_character_width
    width = [(0x3000, " ")]
    for cp in range(0xFF01, 0xFFF0):
        alt = unicodedata.normalize("NFKC", chr(cp))
        if alt != chr(cp):
            assert len(alt) <= 2
            width.append((cp, alt))

    # ftfy fix_c1_controls: sloppy-windows-1252 (bytes cp1252 leaves undefined map to themselves)
    c1 = []
    for b in range(0x80, 0xA0):
        try:
            ch = bytes([b]).decode("cp1252")
        except UnicodeDecodeError:
            ch = chr(b)
        c1.append(ord(ch))

    out = []
    out.append("// GENERATED by gen_text_tables.py from Python %s (Unicode %s). Do not edit: rerun the script."
               % (sys.version.split()[0], unicodedata.unidata_version))
    out.append("// clang-format off")
    out.append('#include "tokenizers/unicode_tables.h"\n')
    out.append("namespace engine::tokenizers::tables {\n")
    out.append(f'const char* const kUnicodeVersion = "{unicodedata.unidata_version}";\n')
    out.append(emit_ranges("kLetterRanges", letters))
    out.append(emit_ranges("kNumberRanges", numbers))
    out.append(emit_ranges("kDecimalRanges", decimals))
    out.append(emit_ranges("kPythonSpaceRanges", py_space))
    out.append(emit_ranges("kCasedRanges", cased_ranges))
    out.append(emit_ranges("kCaseIgnorableRanges", ignorable_ranges))
    lines = ["const LowerMapping kLowerMappings[] = {"]
    for cp, low in lower:
        vals = [ord(c) for c in low] + [0] * (3 - len(low))
        lines.append(f"    {{0x{cp:X}, {{0x{vals[0]:X}, 0x{vals[1]:X}, 0x{vals[2]:X}}}}},")
    lines.append("};")
    lines.append("const std::size_t kLowerMappings_size = sizeof(kLowerMappings) / sizeof(kLowerMappings[0]);")
    out.append("\n".join(lines))
    lines = ["const CombiningClassRange kCombiningClasses[] = {"]
    for lo, hi, v in ccc:
        lines.append(f"    {{0x{lo:X}, 0x{hi:X}, {v}}},")
    lines.append("};")
    lines.append("const std::size_t kCombiningClasses_size = sizeof(kCombiningClasses) / sizeof(kCombiningClasses[0]);")
    out.append("\n".join(lines))
    assert max_decomp <= 4, max_decomp
    lines = ["const Decomposition kDecompositions[] = {"]
    for cp, d in decomp:
        vals = [ord(c) for c in d] + [0] * (4 - len(d))
        lines.append(f"    {{0x{cp:X}, {len(d)}, {{" + ", ".join(f"0x{v:X}" for v in vals) + "}},")
    lines.append("};")
    lines.append("const std::size_t kDecompositions_size = sizeof(kDecompositions) / sizeof(kDecompositions[0]);")
    out.append("\n".join(lines))
    lines = ["const Composition kCompositions[] = {"]
    for a, b, c in compose:
        lines.append(f"    {{0x{a:X}, 0x{b:X}, 0x{c:X}}},")
    lines.append("};")
    lines.append("const std::size_t kCompositions_size = sizeof(kCompositions) / sizeof(kCompositions[0]);")
    out.append("\n".join(lines))
    lines = ["const WidthMapping kWidthMap[] = {"]
    for cp, alt in width:
        vals = [ord(c) for c in alt] + [0] * (2 - len(alt))
        lines.append(f"    {{0x{cp:X}, {{0x{vals[0]:X}, 0x{vals[1]:X}}}}},")
    lines.append("};")
    lines.append("const std::size_t kWidthMap_size = sizeof(kWidthMap) / sizeof(kWidthMap[0]);")
    out.append("\n".join(lines))
    out.append("const char32_t kWindows1252C1[32] = {" + ", ".join(f"0x{v:X}" for v in c1) + "};")
    out.append("\n}  // namespace engine::tokenizers::tables\n")
    with open(os.path.join(HERE, "unicode_tables.cpp"), "w", encoding="utf-8") as f:
        f.write("\n".join(out))


def gen_html():
    html5 = html.entities.html5
    names = sorted(html5)
    # ftfy: lower-case entity names (with ';') may also be written upper-case, decoded to the
    # upper-case character, when the upper-case spelling means nothing to html.unescape.
    upper = {}
    for name, char in html5.items():
        if name.endswith(";") and name == name.lower():
            up = "&" + name.upper()
            if html.unescape(up) == up:
                upper[name.upper()] = char.upper()
    invalid_charrefs = sorted(html._invalid_charrefs.items())
    invalid_codepoints = sorted(html._invalid_codepoints)

    out = []
    out.append("// GENERATED by gen_text_tables.py from Python %s (html.entities.html5). Do not edit: rerun the script."
               % sys.version.split()[0])
    out.append("// clang-format off")
    out.append('#include "tokenizers/unicode_tables.h"\n')
    out.append("namespace engine::tokenizers::tables {\n")
    lines = ["// html.entities.html5: name (with its ';' where the standard has one) -> UTF-8 text, sorted by name.",
             "const NamedEntity kHtml5Entities[] = {"]
    for n in names:
        lines.append(f"    {{{cpp_utf8(n)}, {cpp_utf8(html5[n])}}},")
    lines.append("};")
    lines.append("const std::size_t kHtml5Entities_size = sizeof(kHtml5Entities) / sizeof(kHtml5Entities[0]);")
    out.append("\n".join(lines))
    lines = ["// ftfy's extra upper-case spellings (e.g. NTILDE; -> \\u00d1), sorted by name.",
             "const NamedEntity kFtfyUpperEntities[] = {"]
    for n in sorted(upper):
        lines.append(f"    {{{cpp_utf8(n)}, {cpp_utf8(upper[n])}}},")
    lines.append("};")
    lines.append("const std::size_t kFtfyUpperEntities_size = sizeof(kFtfyUpperEntities) / sizeof(kFtfyUpperEntities[0]);")
    out.append("\n".join(lines))
    lines = ["// html._invalid_charrefs: numeric references replaced as browsers do.",
             "const InvalidCharref kHtmlInvalidCharrefs[] = {"]
    for num, s in invalid_charrefs:
        assert len(s) == 1
        lines.append(f"    {{0x{num:X}, 0x{ord(s):X}}},")
    lines.append("};")
    lines.append("const std::size_t kHtmlInvalidCharrefs_size = sizeof(kHtmlInvalidCharrefs) / sizeof(kHtmlInvalidCharrefs[0]);")
    out.append("\n".join(lines))
    lines = ["// html._invalid_codepoints: numeric references that decode to nothing, sorted.",
             "const char32_t kHtmlInvalidCodepoints[] = {"]
    row = []
    for v in invalid_codepoints:
        row.append(f"0x{v:X}")
        if len(row) == 10:
            lines.append("    " + ", ".join(row) + ",")
            row = []
    if row:
        lines.append("    " + ", ".join(row) + ",")
    lines.append("};")
    lines.append("const std::size_t kHtmlInvalidCodepoints_size = sizeof(kHtmlInvalidCodepoints) / sizeof(kHtmlInvalidCodepoints[0]);")
    out.append("\n".join(lines))
    out.append("\n}  // namespace engine::tokenizers::tables\n")
    with open(os.path.join(HERE, "html_entities.cpp"), "w", encoding="utf-8") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    gen_unicode()
    gen_html()
