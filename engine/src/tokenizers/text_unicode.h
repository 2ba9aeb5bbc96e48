// Unicode helpers for the tokenizers: UTF-8 <-> code points, the character classes of open_clip's
// pre-tokenisation regex, Python's str.lower() and str.isspace(), and NFC normalisation. The data
// comes from unicode_tables.cpp (generated from Python's unicodedata by gen_text_tables.py), so the
// results are those of the Python interpreter that ran the generator (see kUnicodeVersion).
//
//     std::u32string s;
//     if (!decode_utf8("Café", s)) { ... }         // not valid UTF-8
//     std::string low = encode_utf8(python_lower(nfc(s)));
//
// Thread safety: pure functions over constant tables.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace engine::tokenizers {

/// Decodes UTF-8 into code points. Returns false (and the byte offset of the first bad sequence in
/// error_offset, when given) for malformed UTF-8, overlong forms, surrogates or values past U+10FFFF.
bool decode_utf8(std::string_view text, std::u32string& out, std::size_t* error_offset = nullptr);
/// Encodes code points as UTF-8.
std::string encode_utf8(std::u32string_view text);
/// Appends one code point as UTF-8.
void append_utf8(std::string& out, char32_t cp);

/// \p{L}: general category L*.
bool is_letter(char32_t cp);
/// \p{N}: general category N*.
bool is_number(char32_t cp);
/// General category Nd (Python re's \d on str patterns).
bool is_decimal_digit(char32_t cp);
/// \s of the `regex` module: the Unicode White_Space property.
bool is_white_space(char32_t cp);
/// Python's str.isspace() (what str.strip() and str.split() remove).
bool is_python_space(char32_t cp);

/// Python's str.lower(): full lower-case mappings plus the Final_Sigma rule for U+03A3.
std::u32string python_lower(std::u32string_view text);
/// Python's str.strip() without arguments.
std::u32string_view python_strip(std::u32string_view text);
/// Unicode normalisation form C (canonical decomposition, canonical ordering, canonical composition).
std::u32string nfc(std::u32string_view text);

}  // namespace engine::tokenizers
