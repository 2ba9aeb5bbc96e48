// Ref: YAML 1.1 (yaml.org/spec/1.1) block/flow structure; scalar resolution as PyYAML's Resolver
// (yaml/resolver.py: bool, int, null) with OmegaConf's float rule (omegaconf/_utils.py get_yaml_loader),
// which is what LVDM's OmegaConf.load applies to configs/*.yaml.
#include "io/yaml_subset.h"

#include <cstdint>
#include <fstream>
#include <limits>
#include <locale>
#include <regex>
#include <sstream>
#include <utility>
#include <vector>

namespace engine::io {

namespace {

using nlohmann::json;

struct YamlError {
    ErrorCode code;
    int line;
    std::size_t column;  // 0-based index into the line
    std::string message;
};

struct Line {
    int number = 0;          // 1-based
    std::string text;        // without the line break
    std::size_t indent = 0;  // where this line's node starts (moved right for "- key: v" items)
};

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

std::size_t skip_spaces(const std::string& s, std::size_t i) {
    while (i < s.size() && is_space(s[i])) ++i;
    return i;
}

// A comment starts at '#' at the start of the text or after a space.
bool comment_at(const std::string& s, std::size_t i) {
    return i < s.size() && s[i] == '#' && (i == 0 || is_space(s[i - 1]));
}

// Nothing but spaces and maybe a comment from i on.
bool rest_is_empty(const std::string& s, std::size_t i) {
    i = skip_spaces(s, i);
    return i >= s.size() || comment_at(s, i);
}

void append_utf8(std::string& out, uint32_t cp) {
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

std::string strip_underscores(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c != '_') out += c;
    }
    return out;
}

class Parser {
public:
    Parser(const std::string& text, std::string what) : what_(std::move(what)) { split_lines(text); }

    json parse_document() {
        if (lines_.empty()) return nullptr;
        json root = parse_block(lines_[pos_].indent);
        if (pos_ < lines_.size()) {
            const Line& l = lines_[pos_];
            fail(l, l.indent,
                 "unexpected content after the document's top-level node (a mapping key after a top-level "
                 "sequence, or a line indented left of the first one)");
        }
        return root;
    }

private:
    [[noreturn]] void fail(const Line& line, std::size_t column, const std::string& message,
                           ErrorCode code = ErrorCode::ModelLoadFailed) const {
        throw YamlError{code, line.number, column, message};
    }
    [[noreturn]] void outside(const Line& line, std::size_t column, const std::string& message) const {
        fail(line, column,
             message + " (not in the YAML subset Kinora reads: write plain mappings, sequences and scalars)",
             ErrorCode::UnsupportedModel);
    }

    // Splits into lines, drops blank and comment-only lines, checks indentation and document markers.
    void split_lines(const std::string& text) {
        std::size_t begin = 0;
        if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) begin = 3;  // UTF-8 byte order mark
        int number = 0;
        bool seen_content = false;
        bool ended = false;
        while (begin <= text.size()) {
            std::size_t end = text.find('\n', begin);
            if (end == std::string::npos) end = text.size();
            Line line;
            line.number = ++number;
            line.text = text.substr(begin, end - begin);
            if (!line.text.empty() && line.text.back() == '\r') line.text.pop_back();
            begin = end + 1;
            std::size_t indent = 0;
            while (indent < line.text.size() && line.text[indent] == ' ') ++indent;
            if (indent < line.text.size() && line.text[indent] == '\t') {
                // A tab before any content: only a problem when the line has content.
                if (!rest_is_empty(line.text, indent)) fail(line, indent, "tabs are not allowed in YAML indentation");
                continue;
            }
            if (rest_is_empty(line.text, indent)) continue;
            line.indent = indent;
            const std::string& t = line.text;
            if (indent == 0 && t.compare(0, 3, "---") == 0 && (t.size() == 3 || is_space(t[3]))) {
                if (seen_content) outside(line, 0, "a second YAML document ('---')");
                if (!rest_is_empty(t, 3)) outside(line, 4, "content after '---'");
                continue;
            }
            if (indent == 0 && t.compare(0, 3, "...") == 0 && (t.size() == 3 || is_space(t[3]))) {
                if (!rest_is_empty(t, 3)) outside(line, 4, "content after '...'");
                ended = true;
                continue;
            }
            if (ended) outside(line, indent, "content after the end of the document ('...')");
            if (t[indent] == '%') outside(line, indent, "a YAML directive ('%')");
            seen_content = true;
            lines_.push_back(std::move(line));
            if (begin > text.size()) break;
        }
    }

    static bool is_sequence_item(const Line& l) {
        const std::string& t = l.text;
        return t[l.indent] == '-' && (l.indent + 1 == t.size() || is_space(t[l.indent + 1]));
    }

    // Index of the ':' that makes the text from `start` a "key: value" entry, or npos.
    std::size_t mapping_colon(const Line& l, std::size_t start) const {
        const std::string& t = l.text;
        std::size_t i = start;
        if (i < t.size() && (t[i] == '"' || t[i] == '\'')) {
            std::string ignored;
            i = skip_spaces(t, parse_quoted(l, i, ignored));
            if (i < t.size() && t[i] == ':' && (i + 1 == t.size() || is_space(t[i + 1]))) return i;
            return std::string::npos;
        }
        if (i < t.size() && (t[i] == '[' || t[i] == '{')) return std::string::npos;
        for (; i < t.size(); ++i) {
            if (comment_at(t, i)) return std::string::npos;
            if (t[i] == ':' && (i + 1 == t.size() || is_space(t[i + 1]))) return i;
        }
        return std::string::npos;
    }

    // A node whose first line is lines_[pos_], starting at `indent`.
    json parse_block(std::size_t indent) {
        const Line& l = lines_[pos_];
        if (is_sequence_item(l)) return parse_sequence(indent);
        if (mapping_colon(l, l.indent) != std::string::npos) return parse_mapping(indent);
        // A lone scalar or flow collection as the whole block.
        json value = parse_inline(l, l.indent);
        ++pos_;
        if (pos_ < lines_.size() && lines_[pos_].indent >= indent) {
            const Line& next = lines_[pos_];
            outside(next, next.indent, "a scalar continued on the next line (multi-line scalars)");
        }
        return value;
    }

    json parse_mapping(std::size_t indent) {
        json object = json::object();
        while (pos_ < lines_.size()) {
            const Line& l = lines_[pos_];
            if (l.indent < indent) break;
            if (l.indent > indent) {
                fail(l, l.indent,
                     "unexpected indentation (a value continued on the next line, or a block under a key that "
                     "already has a value)");
            }
            if (is_sequence_item(l)) fail(l, l.indent, "a sequence item ('- ') where a mapping key was expected");
            const std::size_t colon = mapping_colon(l, l.indent);
            if (colon == std::string::npos) fail(l, l.indent, "expected 'key: value'");
            const std::string key = parse_key(l, l.indent, colon);
            if (object.contains(key)) fail(l, l.indent, "duplicate key '" + key + "'");
            const std::size_t value_col = skip_spaces(l.text, colon + 1);
            if (rest_is_empty(l.text, value_col)) {
                ++pos_;
                if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
                    object[key] = parse_block(lines_[pos_].indent);
                } else if (pos_ < lines_.size() && lines_[pos_].indent == indent && is_sequence_item(lines_[pos_])) {
                    object[key] = parse_sequence(indent);  // "key:\n- a": a sequence at the key's indentation
                } else {
                    object[key] = nullptr;
                }
            } else {
                object[key] = parse_inline(l, value_col);
                ++pos_;
            }
        }
        return object;
    }

    json parse_sequence(std::size_t indent) {
        json array = json::array();
        while (pos_ < lines_.size()) {
            Line& l = lines_[pos_];
            if (l.indent < indent) break;
            if (l.indent > indent) {
                fail(l, l.indent,
                     "unexpected indentation (a value continued on the next line, or a block under an item that "
                     "already has a value)");
            }
            if (!is_sequence_item(l)) break;  // the next key of a mapping whose sequence sits at its indentation
            const std::size_t c = skip_spaces(l.text, indent + 1);
            if (rest_is_empty(l.text, c)) {
                ++pos_;
                if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
                    array.push_back(parse_block(lines_[pos_].indent));
                } else {
                    array.push_back(nullptr);
                }
                continue;
            }
            l.indent = c;  // "- key: v" / "- - x": the item's node starts at c, and continues there
            if (is_sequence_item(l) || mapping_colon(l, c) != std::string::npos) {
                array.push_back(parse_block(c));
            } else {
                array.push_back(parse_inline(l, c));
                ++pos_;
                l.indent = indent;
            }
        }
        return array;
    }

    std::string parse_key(const Line& l, std::size_t start, std::size_t colon) const {
        const std::string& t = l.text;
        const char c = t[start];
        if (c == '"' || c == '\'') {
            std::string key;
            parse_quoted(l, start, key);
            return key;
        }
        check_indicator(l, start, "key");
        std::size_t end = colon;
        while (end > start && is_space(t[end - 1])) --end;
        return t.substr(start, end - start);
    }

    // Rejects the YAML indicators whose constructs are outside the subset.
    void check_indicator(const Line& l, std::size_t i, const char* what) const {
        switch (l.text[i]) {
            case '&':
                outside(l, i, std::string("an anchor ('&') on a ") + what);
            case '*':
                outside(l, i, std::string("an alias ('*') as a ") + what);
            case '!':
                outside(l, i, std::string("a tag ('!') on a ") + what);
            case '|':
                outside(l, i, "a literal block scalar ('|')");
            case '>':
                outside(l, i, "a folded block scalar ('>')");
            case '?':
                outside(l, i, "a complex mapping key ('?')");
            case '%':
                outside(l, i, "a directive ('%')");
            case '@':
            case '`':
                fail(l, i, std::string("'") + l.text[i] + "' cannot start a plain scalar (quote the string)");
            default:
                break;
        }
    }

    // The value written on a line from column i on: quoted, flow or plain.
    json parse_inline(const Line& l, std::size_t i) const {
        const std::string& t = l.text;
        i = skip_spaces(t, i);
        const char c = t[i];
        std::size_t end = i;
        json value;
        if (c == '"' || c == '\'') {
            std::string s;
            end = parse_quoted(l, i, s);
            value = s;
        } else if (c == '[' || c == '{') {
            end = i;
            value = parse_flow(l, end);
        } else {
            check_indicator(l, i, "value");
            if (c == '-' && (i + 1 == t.size() || is_space(t[i + 1]))) {
                fail(l, i, "a sequence item ('- ') is not allowed here; start the sequence on the next line");
            }
            if (c == ']' || c == '}' || c == ',') fail(l, i, std::string("unexpected '") + c + "'");
            end = i;
            while (end < t.size() && !comment_at(t, end)) ++end;
            std::size_t stop = end;
            while (stop > i && is_space(t[stop - 1])) --stop;
            const std::string text = t.substr(i, stop - i);
            for (std::size_t k = 0; k < text.size(); ++k) {
                if (text[k] == ':' && (k + 1 == text.size() || is_space(text[k + 1]))) {
                    fail(l, i + k,
                         "a mapping value is not allowed here (put 'key: value' on its own line, or quote the "
                         "string)");
                }
            }
            return resolve_plain(l, i, text);
        }
        if (!rest_is_empty(t, end)) fail(l, skip_spaces(t, end), "unexpected text after the value");
        return value;
    }

    // Quoted scalar starting at t[i] (a quote); returns the index after the closing quote.
    std::size_t parse_quoted(const Line& l, std::size_t i, std::string& out) const {
        const std::string& t = l.text;
        const char q = t[i];
        const std::size_t open = i;
        out.clear();
        ++i;
        while (i < t.size()) {
            const char c = t[i];
            if (q == '\'') {
                if (c == '\'') {
                    if (i + 1 < t.size() && t[i + 1] == '\'') {
                        out += '\'';
                        i += 2;
                        continue;
                    }
                    return i + 1;
                }
                out += c;
                ++i;
                continue;
            }
            if (c == '"') return i + 1;
            if (c != '\\') {
                out += c;
                ++i;
                continue;
            }
            if (i + 1 >= t.size()) break;
            const char e = t[i + 1];
            i += 2;
            switch (e) {
                case '\\':
                    out += '\\';
                    break;
                case '"':
                    out += '"';
                    break;
                case '/':
                    out += '/';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case '0':
                    out += '\0';
                    break;
                case ' ':
                    out += ' ';
                    break;
                case 'x':
                case 'u':
                case 'U': {
                    const std::size_t digits = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
                    if (i + digits > t.size()) fail(l, i - 2, "incomplete escape '\\" + std::string(1, e) + "'");
                    uint32_t cp = 0;
                    for (std::size_t k = 0; k < digits; ++k) {
                        const char h = t[i + k];
                        uint32_t v = 0;
                        if (h >= '0' && h <= '9') {
                            v = static_cast<uint32_t>(h - '0');
                        } else if (h >= 'a' && h <= 'f') {
                            v = static_cast<uint32_t>(h - 'a' + 10);
                        } else if (h >= 'A' && h <= 'F') {
                            v = static_cast<uint32_t>(h - 'A' + 10);
                        } else {
                            fail(l, i + k, "'" + std::string(1, h) + "' is not a hexadecimal digit in an escape");
                        }
                        cp = cp * 16 + v;
                    }
                    i += digits;
                    if (cp >= 0xD800 && cp <= 0xDBFF && e == 'u' && i + 6 <= t.size() && t[i] == '\\' &&
                        t[i + 1] == 'u') {
                        // A UTF-16 surrogate pair written as two \u escapes.
                        uint32_t low = 0;
                        bool ok = true;
                        for (std::size_t k = 0; k < 4; ++k) {
                            const char h = t[i + 2 + k];
                            const int v = (h >= '0' && h <= '9')   ? h - '0'
                                          : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                                          : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                                                   : -1;
                            if (v < 0) ok = false;
                            low = low * 16 + static_cast<uint32_t>(v < 0 ? 0 : v);
                        }
                        if (ok && low >= 0xDC00 && low <= 0xDFFF) {
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                            i += 6;
                        }
                    }
                    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
                        fail(l, i - digits - 2, "escape is not a Unicode scalar value");
                    }
                    append_utf8(out, cp);
                    break;
                }
                default:
                    fail(l, i - 2, "unknown escape '\\" + std::string(1, e) + "' in a double-quoted string");
            }
        }
        outside(l, open, "a quoted string that does not close on its line (multi-line strings)");
    }

    // Flow collection or flow scalar at t[i]; advances i past it.
    json parse_flow(const Line& l, std::size_t& i) const {
        const std::string& t = l.text;
        i = skip_spaces(t, i);
        if (i >= t.size() || comment_at(t, i)) {
            outside(l, i, "a flow collection ('[...]', '{...}') that does not close on its line");
        }
        const char c = t[i];
        if (c == '[') {
            json array = json::array();
            ++i;
            while (true) {
                i = skip_spaces(t, i);
                if (i < t.size() && t[i] == ']') {
                    ++i;
                    return array;
                }
                const std::size_t item_col = i;
                json item = parse_flow(l, i);
                i = skip_spaces(t, i);
                if (i < t.size() && t[i] == ':') outside(l, item_col, "a 'key: value' pair inside a flow sequence");
                array.push_back(std::move(item));
                if (i < t.size() && t[i] == ',') {
                    ++i;
                    continue;
                }
                if (i < t.size() && t[i] == ']') {
                    ++i;
                    return array;
                }
                if (i >= t.size() || comment_at(t, i)) {
                    outside(l, i, "a flow sequence that does not close on its line");
                }
                fail(l, i, "expected ',' or ']' in a flow sequence");
            }
        }
        if (c == '{') {
            json object = json::object();
            ++i;
            while (true) {
                i = skip_spaces(t, i);
                if (i < t.size() && t[i] == '}') {
                    ++i;
                    return object;
                }
                if (i >= t.size() || comment_at(t, i)) outside(l, i, "a flow mapping that does not close on its line");
                const std::size_t key_col = i;
                std::string key;
                if (t[i] == '"' || t[i] == '\'') {
                    i = parse_quoted(l, i, key);
                } else {
                    check_indicator(l, i, "key");
                    if (t[i] == '[' || t[i] == '{') outside(l, i, "a collection as a mapping key");
                    std::size_t end = i;
                    while (end < t.size() && t[end] != ':' && t[end] != ',' && t[end] != '}' && t[end] != '{' &&
                           t[end] != '[' && t[end] != ']' && !comment_at(t, end)) {
                        ++end;
                    }
                    std::size_t stop = end;
                    while (stop > i && is_space(t[stop - 1])) --stop;
                    key = t.substr(i, stop - i);
                    i = end;
                }
                i = skip_spaces(t, i);
                if (i >= t.size() || t[i] != ':') fail(l, i, "expected ':' after the key in a flow mapping");
                ++i;
                if (object.contains(key)) fail(l, key_col, "duplicate key '" + key + "'");
                i = skip_spaces(t, i);
                if (i < t.size() && (t[i] == ',' || t[i] == '}')) {
                    object[key] = nullptr;
                } else {
                    object[key] = parse_flow(l, i);
                }
                i = skip_spaces(t, i);
                if (i < t.size() && t[i] == ',') {
                    ++i;
                    continue;
                }
                if (i < t.size() && t[i] == '}') {
                    ++i;
                    return object;
                }
                if (i >= t.size() || comment_at(t, i)) outside(l, i, "a flow mapping that does not close on its line");
                fail(l, i, "expected ',' or '}' in a flow mapping");
            }
        }
        if (c == '"' || c == '\'') {
            std::string s;
            i = parse_quoted(l, i, s);
            return s;
        }
        if (c == ',' || c == ']' || c == '}') fail(l, i, std::string("unexpected '") + c + "' (an empty entry)");
        check_indicator(l, i, "value");
        const std::size_t start = i;
        while (i < t.size() && t[i] != ',' && t[i] != '[' && t[i] != ']' && t[i] != '{' && t[i] != '}' &&
               !comment_at(t, i) &&
               !(t[i] == ':' &&
                 (i + 1 == t.size() || is_space(t[i + 1]) || t[i + 1] == ',' || t[i + 1] == ']' || t[i + 1] == '}'))) {
            ++i;
        }
        std::size_t stop = i;
        while (stop > start && is_space(t[stop - 1])) --stop;
        return resolve_plain(l, start, t.substr(start, stop - start));
    }

    // PyYAML's implicit resolvers (YAML 1.1 null, bool, int) and OmegaConf's float rule.
    json resolve_plain(const Line& l, std::size_t col, const std::string& s) const {
        static const std::regex null_re("^(~|null|Null|NULL)?$");
        static const std::regex true_re("^(yes|Yes|YES|true|True|TRUE|on|On|ON)$");
        static const std::regex false_re("^(no|No|NO|false|False|FALSE|off|Off|OFF)$");
        static const std::regex int_re("^[-+]?(0|[1-9][0-9_]*)$");
        static const std::regex other_int_re(
            "^([-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?0o[0-7_]+|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$");
        static const std::regex float_re(
            "^([-+]?[0-9][0-9_]*\\.[0-9_]*([eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|\\.[0-9_]+([eE][-+][0-9]+"
            ")?)$");
        static const std::regex inf_re("^([-+]?)\\.(inf|Inf|INF)$");
        static const std::regex nan_re("^\\.(nan|NaN|NAN)$");
        static const std::regex sexagesimal_float_re("^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*$");

        if (std::regex_match(s, null_re)) return nullptr;
        if (std::regex_match(s, true_re)) return true;
        if (std::regex_match(s, false_re)) return false;
        if (std::regex_match(s, int_re)) {
            const std::string digits = strip_underscores(s);
            std::size_t k = 0;
            const bool negative = digits[0] == '-';
            if (digits[0] == '-' || digits[0] == '+') k = 1;
            // Accumulate as a negative number so INT64_MIN fits.
            int64_t value = 0;
            for (; k < digits.size(); ++k) {
                const int d = digits[k] - '0';
                if (value < (std::numeric_limits<int64_t>::min() + d) / 10) {
                    fail(l, col, "integer " + s + " does not fit in 64 bits");
                }
                value = value * 10 - d;
            }
            if (!negative) {
                if (value == std::numeric_limits<int64_t>::min())
                    fail(l, col, "integer " + s + " does not fit in 64 bits");
                value = -value;
            }
            return value;
        }
        std::smatch m;
        if (std::regex_match(s, m, inf_re)) {
            return m[1].str() == "-" ? -std::numeric_limits<double>::infinity()
                                     : std::numeric_limits<double>::infinity();
        }
        if (std::regex_match(s, nan_re)) return std::numeric_limits<double>::quiet_NaN();
        if (std::regex_match(s, float_re)) {
            std::istringstream in(strip_underscores(s));
            in.imbue(std::locale::classic());
            double v = 0.0;
            in >> v;
            if (in.fail() || in.peek() != std::char_traits<char>::eof()) {
                // "1." reads as 1 with nothing left; anything else that fails is a bug in the pattern above.
                fail(l, col, "cannot read the number '" + s + "'");
            }
            return v;
        }
        if (std::regex_match(s, other_int_re) || std::regex_match(s, sexagesimal_float_re)) {
            outside(l, col, "the number '" + s + "' in binary, octal, hexadecimal or base-60 notation");
        }
        return s;
    }

    std::vector<Line> lines_;
    std::size_t pos_ = 0;
    std::string what_;
};

}  // namespace

Expected<nlohmann::json> parse_yaml_subset(const std::string& text, const std::string& what) {
    try {
        Parser parser(text, what);
        return parser.parse_document();
    } catch (const YamlError& e) {
        return make_error(e.code,
                          what + ":" + std::to_string(e.line) + ":" + std::to_string(e.column + 1) + ": " + e.message);
    }
}

Expected<nlohmann::json> read_yaml_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ErrorCode::ModelNotFound, path + ": cannot open the YAML file");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) return make_error(ErrorCode::IoError, path + ": reading the YAML file failed");
    return parse_yaml_subset(buffer.str(), path);
}

}  // namespace engine::io
