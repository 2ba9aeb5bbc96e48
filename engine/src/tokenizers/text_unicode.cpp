#include "tokenizers/text_unicode.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tokenizers/unicode_tables.h"

namespace engine::tokenizers {
namespace {

using tables::CodepointRange;

bool in_ranges(const CodepointRange* ranges, std::size_t size, char32_t cp) {
    const CodepointRange* end = ranges + size;
    const CodepointRange* it =
        std::upper_bound(ranges, end, cp, [](char32_t v, const CodepointRange& r) { return v < r.first; });
    return it != ranges && cp <= (it - 1)->last;
}

// Hangul syllables decompose and compose algorithmically (Unicode §3.12).
constexpr char32_t kHangulSBase = 0xAC00;
constexpr char32_t kHangulLBase = 0x1100;
constexpr char32_t kHangulVBase = 0x1161;
constexpr char32_t kHangulTBase = 0x11A7;
constexpr char32_t kHangulLCount = 19;
constexpr char32_t kHangulVCount = 21;
constexpr char32_t kHangulTCount = 28;
constexpr char32_t kHangulNCount = kHangulVCount * kHangulTCount;
constexpr char32_t kHangulSCount = kHangulLCount * kHangulNCount;

std::uint8_t combining_class(char32_t cp) {
    const auto* begin = tables::kCombiningClasses;
    const auto* end = begin + tables::kCombiningClasses_size;
    const auto* it =
        std::upper_bound(begin, end, cp, [](char32_t v, const tables::CombiningClassRange& r) { return v < r.first; });
    if (it != begin && cp <= (it - 1)->last) {
        return (it - 1)->combining_class;
    }
    return 0;
}

void decompose_into(char32_t cp, std::u32string& out) {
    if (cp >= kHangulSBase && cp < kHangulSBase + kHangulSCount) {
        const char32_t s = cp - kHangulSBase;
        out += kHangulLBase + s / kHangulNCount;
        out += kHangulVBase + (s % kHangulNCount) / kHangulTCount;
        if (s % kHangulTCount != 0) {
            out += kHangulTBase + s % kHangulTCount;
        }
        return;
    }
    const auto* begin = tables::kDecompositions;
    const auto* end = begin + tables::kDecompositions_size;
    const auto* it =
        std::lower_bound(begin, end, cp, [](const tables::Decomposition& d, char32_t v) { return d.codepoint < v; });
    if (it != end && it->codepoint == cp) {
        out.append(it->parts, it->length);  // already the full (recursive) decomposition
    } else {
        out += cp;
    }
}

// The primary composite of a pair, or 0.
char32_t compose_pair(char32_t a, char32_t b) {
    if (a >= kHangulLBase && a < kHangulLBase + kHangulLCount && b >= kHangulVBase &&
        b < kHangulVBase + kHangulVCount) {
        return kHangulSBase + ((a - kHangulLBase) * kHangulVCount + (b - kHangulVBase)) * kHangulTCount;
    }
    if (a >= kHangulSBase && a < kHangulSBase + kHangulSCount && (a - kHangulSBase) % kHangulTCount == 0 &&
        b > kHangulTBase && b < kHangulTBase + kHangulTCount) {
        return a + (b - kHangulTBase);
    }
    const auto* begin = tables::kCompositions;
    const auto* end = begin + tables::kCompositions_size;
    const auto* it =
        std::lower_bound(begin, end, std::make_pair(a, b), [](const tables::Composition& c, const auto& k) {
            return c.first < k.first || (c.first == k.first && c.second < k.second);
        });
    if (it != end && it->first == a && it->second == b) {
        return it->composite;
    }
    return 0;
}

bool is_cased_for_sigma(char32_t cp) {
    return in_ranges(tables::kCasedRanges, tables::kCasedRanges_size, cp);
}
bool is_case_ignorable(char32_t cp) {
    return in_ranges(tables::kCaseIgnorableRanges, tables::kCaseIgnorableRanges_size, cp);
}

// CPython's rule for U+03A3 in str.lower(): final form when preceded by a cased letter and not
// followed by one, case-ignorable characters being skipped on both sides.
bool is_final_sigma(std::u32string_view text, std::size_t i) {
    std::size_t j = i;
    while (j > 0 && is_case_ignorable(text[j - 1])) {
        --j;
    }
    if (j == 0 || !is_cased_for_sigma(text[j - 1])) {
        return false;
    }
    j = i + 1;
    while (j < text.size() && is_case_ignorable(text[j])) {
        ++j;
    }
    return j == text.size() || !is_cased_for_sigma(text[j]);
}

}  // namespace

bool decode_utf8(std::string_view text, std::u32string& out, std::size_t* error_offset) {
    out.clear();
    out.reserve(text.size());
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned char b0 = p[i];
        char32_t cp = 0;
        std::size_t len = 0;
        char32_t min_value = 0;
        if (b0 < 0x80) {
            out += static_cast<char32_t>(b0);
            ++i;
            continue;
        } else if ((b0 & 0xE0) == 0xC0) {
            cp = b0 & 0x1F;
            len = 2;
            min_value = 0x80;
        } else if ((b0 & 0xF0) == 0xE0) {
            cp = b0 & 0x0F;
            len = 3;
            min_value = 0x800;
        } else if ((b0 & 0xF8) == 0xF0) {
            cp = b0 & 0x07;
            len = 4;
            min_value = 0x10000;
        } else {
            if (error_offset != nullptr) {
                *error_offset = i;
            }
            return false;
        }
        bool ok = i + len <= n;
        for (std::size_t k = 1; ok && k < len; ++k) {
            const unsigned char b = p[i + k];
            ok = (b & 0xC0) == 0x80;
            cp = (cp << 6) | (b & 0x3F);
        }
        ok = ok && cp >= min_value && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (!ok) {
            if (error_offset != nullptr) {
                *error_offset = i;
            }
            return false;
        }
        out += cp;
        i += len;
    }
    return true;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string encode_utf8(std::u32string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char32_t cp : text) {
        append_utf8(out, cp);
    }
    return out;
}

bool is_letter(char32_t cp) {
    return in_ranges(tables::kLetterRanges, tables::kLetterRanges_size, cp);
}
bool is_number(char32_t cp) {
    return in_ranges(tables::kNumberRanges, tables::kNumberRanges_size, cp);
}
bool is_decimal_digit(char32_t cp) {
    return in_ranges(tables::kDecimalRanges, tables::kDecimalRanges_size, cp);
}
bool is_python_space(char32_t cp) {
    return in_ranges(tables::kPythonSpaceRanges, tables::kPythonSpaceRanges_size, cp);
}

bool is_white_space(char32_t cp) {
    // Unicode PropList.txt White_Space (unchanged since Unicode 6.3).
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

std::u32string python_lower(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    const auto* begin = tables::kLowerMappings;
    const auto* end = begin + tables::kLowerMappings_size;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char32_t cp = text[i];
        if (cp < 0x80) {
            out += (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
            continue;
        }
        if (cp == 0x03A3) {
            out += is_final_sigma(text, i) ? char32_t{0x03C2} : char32_t{0x03C3};
            continue;
        }
        const auto* it =
            std::lower_bound(begin, end, cp, [](const tables::LowerMapping& m, char32_t v) { return m.codepoint < v; });
        if (it != end && it->codepoint == cp) {
            for (char32_t c : it->lower) {
                if (c == 0) {
                    break;
                }
                out += c;
            }
        } else {
            out += cp;
        }
    }
    return out;
}

std::u32string_view python_strip(std::u32string_view text) {
    std::size_t b = 0;
    std::size_t e = text.size();
    while (b < e && is_python_space(text[b])) {
        ++b;
    }
    while (e > b && is_python_space(text[e - 1])) {
        --e;
    }
    return text.substr(b, e - b);
}

std::u32string nfc(std::u32string_view text) {
    // Below U+0300 nothing decomposes into something that recomposes differently and nothing combines.
    if (std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x300; })) {
        return std::u32string(text);
    }
    std::u32string decomposed;
    decomposed.reserve(text.size() + 8);
    for (char32_t cp : text) {
        decompose_into(cp, decomposed);
    }
    // Canonical ordering: stable sort of each run of non-starters by combining class.
    std::vector<std::uint8_t> classes(decomposed.size());
    for (std::size_t i = 0; i < decomposed.size(); ++i) {
        classes[i] = combining_class(decomposed[i]);
    }
    for (std::size_t i = 0; i < decomposed.size();) {
        if (classes[i] == 0) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < decomposed.size() && classes[j] != 0) {
            ++j;
        }
        std::vector<std::pair<std::uint8_t, char32_t>> run;
        for (std::size_t k = i; k < j; ++k) {
            run.emplace_back(classes[k], decomposed[k]);
        }
        std::stable_sort(run.begin(), run.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
        for (std::size_t k = i; k < j; ++k) {
            classes[k] = run[k - i].first;
            decomposed[k] = run[k - i].second;
        }
        i = j;
    }
    // Canonical composition: a character combines with the last starter unless blocked, i.e. unless
    // something between them has class 0 or a class >= its own.
    std::u32string out;
    out.reserve(decomposed.size());
    std::size_t starter = std::u32string::npos;
    std::uint8_t last_class = 0;
    for (std::size_t i = 0; i < decomposed.size(); ++i) {
        const char32_t cp = decomposed[i];
        const std::uint8_t cc = classes[i];
        if (starter != std::u32string::npos) {
            const bool adjacent = starter + 1 == out.size();
            if (adjacent || (last_class != 0 && last_class < cc)) {
                const char32_t composite = compose_pair(out[starter], cp);
                if (composite != 0) {
                    out[starter] = composite;
                    continue;
                }
            }
        }
        if (cc == 0) {
            starter = out.size();
        }
        last_class = cc;
        out += cp;
    }
    return out;
}

}  // namespace engine::tokenizers
