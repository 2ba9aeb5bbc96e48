#include "tokenizers/clip_text_clean.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "tokenizers/text_unicode.h"
#include "tokenizers/unicode_tables.h"

namespace engine::tokenizers {
namespace {

const char* find_entity(const tables::NamedEntity* table, std::size_t size, const std::string& name) {
    const auto* end = table + size;
    const auto* it = std::lower_bound(table, end, name, [](const tables::NamedEntity& e, const std::string& key) {
        return std::strcmp(e.name, key.c_str()) < 0;
    });
    if (it != end && name == it->name) {
        return it->value;
    }
    return nullptr;
}

// Entity names are ASCII; anything else can never match.
bool to_ascii(std::u32string_view text, std::string& out) {
    out.clear();
    for (char32_t c : text) {
        if (c >= 0x80) {
            return false;
        }
        out += static_cast<char>(c);
    }
    return true;
}

void append_utf8_text(std::u32string& out, const char* utf8) {
    std::u32string decoded;
    decode_utf8(utf8, decoded);  // generated table: always valid
    out += decoded;
}

bool is_ascii_digit(char32_t c) {
    return c >= '0' && c <= '9';
}
bool is_ascii_hex(char32_t c) {
    return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_ascii_alnum(char32_t c) {
    return is_ascii_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// html/__init__.py _replace_charref for a numeric reference whose value is `num` (saturated).
void append_numeric_charref(std::u32string& out, std::uint64_t num) {
    const auto* begin = tables::kHtmlInvalidCharrefs;
    const auto* end = begin + tables::kHtmlInvalidCharrefs_size;
    const auto* it = std::lower_bound(begin, end, num,
                                      [](const tables::InvalidCharref& r, std::uint64_t v) { return r.number < v; });
    if (it != end && it->number == num) {
        out += it->replacement;
        return;
    }
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
        out += char32_t{0xFFFD};
        return;
    }
    const auto cp = static_cast<char32_t>(num);
    if (std::binary_search(tables::kHtmlInvalidCodepoints,
                           tables::kHtmlInvalidCodepoints + tables::kHtmlInvalidCodepoints_size, cp)) {
        return;
    }
    out += cp;
}

// ftfy unescape_html: HTML_ENTITY_RE = &#?[0-9A-Za-z]{1,24};
std::u32string ftfy_unescape_html(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    std::string name;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] != '&') {
            out += text[i++];
            continue;
        }
        std::size_t j = i + 1;
        const bool numeric = j < text.size() && text[j] == '#';
        if (numeric) {
            ++j;
        }
        std::size_t k = j;
        while (k < text.size() && is_ascii_alnum(text[k])) {
            ++k;
        }
        const std::size_t run = k - j;
        if (run < 1 || run > 24 || k >= text.size() || text[k] != ';') {
            out += text[i++];
            continue;
        }
        const std::u32string_view match = text.substr(i, k + 1 - i);  // "&...;"
        to_ascii(match.substr(1), name);
        const char* value = nullptr;
        if (!numeric) {
            value = find_entity(tables::kHtml5Entities, tables::kHtml5Entities_size, name);
            if (value == nullptr) {
                value = find_entity(tables::kFtfyUpperEntities, tables::kFtfyUpperEntities_size, name);
            }
        }
        if (value != nullptr) {
            append_utf8_text(out, value);
        } else if (numeric) {
            // html.unescape must consume the ';' as well, or the reference stays as it is.
            const std::u32string unescaped = html_unescape(match);
            if (unescaped.find(U';') != std::u32string::npos) {
                out += match;
            } else {
                out += unescaped;
            }
        } else {
            out += match;
        }
        i = k + 1;
    }
    return out;
}

std::u32string fix_c1_controls(std::u32string_view text) {
    std::u32string out(text);
    for (char32_t& c : out) {
        if (c >= 0x80 && c <= 0x9F) {
            c = tables::kWindows1252C1[c - 0x80];
        }
    }
    return out;
}

// ftfy's LIGATURES table.
struct Ligature {
    char32_t codepoint;
    const char32_t* letters;
};
const Ligature kLigatures[] = {
    {0x0132, U"IJ"},      {0x0133, U"ij"}, {0x0149, U"\u02BCn"}, {0x01C4, U"D\u017D"}, {0x01C5, U"D\u017E"},
    {0x01C6, U"d\u017E"}, {0x01C7, U"LJ"}, {0x01C8, U"Lj"},      {0x01C9, U"lj"},      {0x01CA, U"NJ"},
    {0x01CB, U"Nj"},      {0x01CC, U"nj"}, {0x01F1, U"DZ"},      {0x01F2, U"Dz"},      {0x01F3, U"dz"},
    {0xFB00, U"ff"},      {0xFB01, U"fi"}, {0xFB02, U"fl"},      {0xFB03, U"ffi"},     {0xFB04, U"ffl"},
    {0xFB05, U"\u017Ft"}, {0xFB06, U"st"},
};

std::u32string fix_latin_ligatures(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    for (char32_t c : text) {
        const auto* it = std::find_if(std::begin(kLigatures), std::end(kLigatures),
                                      [c](const Ligature& l) { return l.codepoint == c; });
        if (it != std::end(kLigatures)) {
            out += it->letters;
        } else {
            out += c;
        }
    }
    return out;
}

std::u32string fix_character_width(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    const auto* begin = tables::kWidthMap;
    const auto* end = begin + tables::kWidthMap_size;
    for (char32_t c : text) {
        if (c != 0x3000 && (c < 0xFF01 || c > 0xFFEF)) {
            out += c;
            continue;
        }
        const auto* it =
            std::lower_bound(begin, end, c, [](const tables::WidthMapping& m, char32_t v) { return m.codepoint < v; });
        if (it != end && it->codepoint == c) {
            for (char32_t r : it->replacement) {
                if (r == 0) {
                    break;
                }
                out += r;
            }
        } else {
            out += c;
        }
    }
    return out;
}

std::u32string uncurl_quotes(std::u32string_view text) {
    std::u32string out(text);
    for (char32_t& c : out) {
        if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) {
            c = U'\'';
        } else if (c >= 0x201C && c <= 0x201F) {
            c = U'"';
        }
    }
    return out;
}

std::u32string fix_line_breaks(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char32_t c = text[i];
        if (c == '\r') {
            out += U'\n';
            if (i + 1 < text.size() && text[i + 1] == '\n') {
                ++i;
            }
        } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
            out += U'\n';
        } else {
            out += c;
        }
    }
    return out;
}

// ANSI_RE = "\033\[((?:\d|;)*)([a-zA-Z])"
std::u32string remove_terminal_escapes(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == 0x1B && i + 1 < text.size() && text[i + 1] == '[') {
            std::size_t j = i + 2;
            while (j < text.size() && (is_decimal_digit(text[j]) || text[j] == ';')) {
                ++j;
            }
            if (j < text.size() && ((text[j] >= 'a' && text[j] <= 'z') || (text[j] >= 'A' && text[j] <= 'Z'))) {
                i = j + 1;
                continue;
            }
        }
        out += text[i++];
    }
    return out;
}

bool is_removed_control(char32_t c) {
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
           c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

std::u32string remove_control_chars(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    for (char32_t c : text) {
        if (!is_removed_control(c)) {
            out += c;
        }
    }
    return out;
}

// ftfy fix_and_explain without fix_encoding: all fixers in ftfy's order until a fixed point.
std::u32string fix_segment(std::u32string segment, bool unescape) {
    while (true) {
        const std::u32string original = segment;
        if (unescape) {
            segment = ftfy_unescape_html(segment);
        }
        segment = fix_c1_controls(segment);
        segment = fix_latin_ligatures(segment);
        segment = fix_character_width(segment);
        segment = uncurl_quotes(segment);
        segment = fix_line_breaks(segment);
        segment = remove_terminal_escapes(segment);
        segment = remove_control_chars(segment);
        segment = nfc(segment);
        if (segment == original) {
            return segment;
        }
    }
}

}  // namespace

std::u32string html_unescape(std::u32string_view text) {
    if (text.find(U'&') == std::u32string_view::npos) {
        return std::u32string(text);
    }
    std::u32string out;
    out.reserve(text.size());
    std::string name;
    std::size_t i = 0;
    const std::size_t n = text.size();
    while (i < n) {
        if (text[i] != '&' || i + 1 >= n) {
            out += text[i++];
            continue;
        }
        std::size_t j = i + 1;
        if (text[j] == '#') {
            // '#[0-9]+;?' then '#[xX][0-9a-fA-F]+;?'
            std::size_t k = j + 1;
            bool hex = false;
            while (k < n && is_ascii_digit(text[k])) {
                ++k;
            }
            if (k == j + 1) {
                if (k < n && (text[k] == 'x' || text[k] == 'X')) {
                    ++k;
                    while (k < n && is_ascii_hex(text[k])) {
                        ++k;
                    }
                    if (k == j + 2) {
                        out += text[i++];
                        continue;
                    }
                    hex = true;
                } else {
                    out += text[i++];
                    continue;
                }
            }
            std::uint64_t num = 0;
            for (std::size_t d = j + (hex ? 2 : 1); d < k; ++d) {
                const char32_t c = text[d];
                const std::uint64_t v = is_ascii_digit(c) ? c - '0' : (c >= 'a' ? c - 'a' + 10 : c - 'A' + 10);
                num = num * (hex ? 16 : 10) + v;
                if (num > 0x110000) {
                    num = 0x110000;  // saturate: every value past U+10FFFF means the same
                }
            }
            if (k < n && text[k] == ';') {
                ++k;
            }
            append_numeric_charref(out, num);
            i = k;
            continue;
        }
        // '[^\t\n\f <&#;]{1,32};?'
        std::size_t k = j;
        while (k < n && k - j < 32) {
            const char32_t c = text[k];
            if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';') {
                break;
            }
            ++k;
        }
        if (k == j) {
            out += text[i++];
            continue;
        }
        if (k < n && text[k] == ';') {
            ++k;
        }
        const std::u32string_view ref = text.substr(j, k - j);
        const char* value = nullptr;
        std::size_t used = 0;
        if (to_ascii(ref, name)) {
            value = find_entity(tables::kHtml5Entities, tables::kHtml5Entities_size, name);
            used = ref.size();
        }
        // the longest known prefix (at least 2 characters, shorter than the whole reference)
        for (std::size_t x = ref.size() - 1; value == nullptr && x >= 2; --x) {
            if (to_ascii(ref.substr(0, x), name)) {
                value = find_entity(tables::kHtml5Entities, tables::kHtml5Entities_size, name);
                used = x;
            }
        }
        if (value != nullptr) {
            append_utf8_text(out, value);
            out += ref.substr(used);
        } else {
            out += U'&';
            out += ref;
        }
        i = k;
    }
    return out;
}

std::u32string ftfy_fix_text(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    bool unescape = true;
    std::size_t pos = 0;
    constexpr std::size_t kMaxDecodeLength = 1000000;
    while (pos < text.size()) {
        std::size_t brk = text.find(U'\n', pos);
        brk = brk == std::u32string_view::npos ? text.size() : brk + 1;
        brk = std::min(brk, pos + kMaxDecodeLength);
        const std::u32string_view segment = text.substr(pos, brk - pos);
        if (unescape && segment.find(U'<') != std::u32string_view::npos) {
            unescape = false;
        }
        out += fix_segment(std::u32string(segment), unescape);
        pos = brk;
    }
    return out;
}

std::u32string clip_clean_text(std::u32string_view text) {
    // basic_clean
    const std::u32string fixed = ftfy_fix_text(text);
    const std::u32string unescaped = html_unescape(html_unescape(fixed));
    const std::u32string_view stripped = python_strip(unescaped);
    // whitespace_clean
    std::u32string collapsed;
    collapsed.reserve(stripped.size());
    for (std::size_t i = 0; i < stripped.size();) {
        if (is_white_space(stripped[i])) {
            collapsed += U' ';
            while (i < stripped.size() && is_white_space(stripped[i])) {
                ++i;
            }
        } else {
            collapsed += stripped[i++];
        }
    }
    return python_lower(python_strip(collapsed));
}

}  // namespace engine::tokenizers
