// Ref: mlfoundations/open_clip src/open_clip/tokenizer.py@v2.22.0 (1f0b5bb6) basic_clean, whitespace_clean
// Ref: rspeer/python-ftfy ftfy/__init__.py, ftfy/fixes.py, ftfy/chardata.py@74dd0452 fix_text and its fixers
// Ref: python/cpython Lib/html/__init__.py@v3.11.7 unescape
//
// The text cleaning open_clip's SimpleTokenizer applies before BPE (as VideoCrafter / DynamiCrafter
// run it, open_clip_torch 2.x):
//     whitespace_clean(basic_clean(text)).lower()
//     basic_clean(t)      = html.unescape(html.unescape(ftfy.fix_text(t))).strip()
//     whitespace_clean(t) = re.sub(r"\s+", " ", t).strip()
//
// ftfy.fix_text is reproduced for everything except its mojibake repair: per line (the '<' rule of
// unescape_html="auto" sticks from the first line that has one), until nothing changes,
//   unescape_html           entities ending in ';' (html5 table + ftfy's upper-case forms), &#...;
//   fix_c1_controls         U+0080..U+009F read as windows-1252 (sloppy: undefined bytes stay)
//   fix_latin_ligatures     ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ Ĳ ĳ ŉ Ǳ ǲ ǳ Ǆ ǅ ǆ Ǉ ǈ ǉ Ǌ ǋ ǌ
//   fix_character_width     fullwidth ASCII / halfwidth kana etc. (NFKC of U+FF01..U+FFEF), U+3000
//   uncurl_quotes           U+02BC, U+2018..U+201B -> '   U+201C..U+201F -> "
//   fix_line_breaks         \r\n \r U+2028 U+2029 U+0085 -> \n
//   remove_terminal_escapes ESC [ digits/';' letter
//   remove_control_chars    U+0000..0008, 000B, 000E..001F, 007F, 206A..206F, FEFF, FFF9..FFFC
//   normalization           NFC
// NOT reproduced: fix_encoding (detecting mojibake such as "cafÃ©" and re-decoding it) and
// fix_surrogates (surrogates cannot occur in valid UTF-8 input). Correctly encoded prompts are
// unaffected by both.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace engine::tokenizers {

/// Python's html.unescape (HTML5 named references incl. the legacy ones without ';', numeric
/// references with the browsers' replacements).
std::u32string html_unescape(std::u32string_view text);

/// ftfy.fix_text with the default configuration, except mojibake repair (see above).
std::u32string ftfy_fix_text(std::u32string_view text);

/// open_clip's whitespace_clean(basic_clean(text)).lower().
std::u32string clip_clean_text(std::u32string_view text);

}  // namespace engine::tokenizers
