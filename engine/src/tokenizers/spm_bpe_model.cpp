#include "tokenizers/spm_bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <queue>
#include <unordered_map>
#include <utility>

namespace engine::tokenizers {
namespace {

namespace fs = std::filesystem;

using PieceType = SpmModelProto::PieceType;

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";      // U+2581, sentencepiece's escaped space
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// ---- protobuf wire format (https://protobuf.dev/programming-guides/encoding/) ---------------------------

enum WireType : int { kVarint = 0, kFixed64 = 1, kLen = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

class WireReader {
public:
    explicit WireReader(std::string_view bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

    bool done() const { return p_ == end_; }

    bool varint(std::uint64_t& out) {
        out = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ == end_) return false;
            const auto b = static_cast<unsigned char>(*p_++);
            out |= static_cast<std::uint64_t>(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return true;
        }
        return false;  // more than 10 bytes
    }
    bool tag(std::uint32_t& field, int& wire_type) {
        std::uint64_t key = 0;
        if (!varint(key) || (key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF) return false;
        field = static_cast<std::uint32_t>(key >> 3);
        wire_type = static_cast<int>(key & 7);
        return true;
    }
    bool bytes(std::string_view& out) {
        std::uint64_t n = 0;
        if (!varint(n) || n > static_cast<std::uint64_t>(end_ - p_)) return false;
        out = std::string_view(p_, static_cast<std::size_t>(n));
        p_ += n;
        return true;
    }
    bool fixed32(std::uint32_t& out) {
        if (end_ - p_ < 4) return false;
        out = 0;
        for (int i = 0; i < 4; ++i) out |= static_cast<std::uint32_t>(static_cast<unsigned char>(p_[i])) << (8 * i);
        p_ += 4;
        return true;
    }
    // Skips the value of a field this reader does not use (any wire type, groups included).
    bool skip(std::uint32_t field, int wire_type, int depth = 0) {
        std::uint64_t v = 0;
        std::string_view s;
        switch (wire_type) {
            case kVarint:
                return varint(v);
            case kFixed64:
                if (end_ - p_ < 8) return false;
                p_ += 8;
                return true;
            case kLen:
                return bytes(s);
            case kFixed32:
                if (end_ - p_ < 4) return false;
                p_ += 4;
                return true;
            case kStartGroup: {
                if (depth > 64) return false;
                std::uint32_t f = 0;
                int wt = 0;
                while (tag(f, wt)) {
                    if (wt == kEndGroup) return f == field;
                    if (!skip(f, wt, depth + 1)) return false;
                }
                return false;
            }
            default:
                return false;  // a stray end-group or wire types 6, 7
        }
    }

private:
    const char* p_;
    const char* end_;
};

using ParseResult = Expected<void>;

ParseResult malformed(const std::string& what) {
    return make_error(ErrorCode::ModelLoadFailed, what);
}

// Calls on_field(field, wire_type, reader, bad) for each field of one message. on_field returns false when it
// does not take the value (the reader then skips it); it sets `bad` to what went wrong when it could not read it.
template <typename Fn>
ParseResult for_each_field(std::string_view message, const char* what, Fn&& on_field) {
    WireReader r(message);
    while (!r.done()) {
        std::uint32_t field = 0;
        int wire_type = 0;
        if (!r.tag(field, wire_type)) {
            return malformed(std::string("bad field tag in ") + what);
        }
        std::string bad;
        if (!on_field(field, wire_type, r, bad)) {
            if (!r.skip(field, wire_type)) {
                return malformed(std::string("truncated or invalid field ") + std::to_string(field) + " in " + what);
            }
        }
        if (!bad.empty()) {
            return malformed(bad + " (field " + std::to_string(field) + " of " + what + ")");
        }
    }
    return {};
}

// proto2 enums: a value the enum does not define is kept aside as an unknown field; the field keeps its value.
bool valid_piece_type(std::uint64_t v) {
    return v >= 1 && v <= 6;
}
bool valid_model_type(std::uint64_t v) {
    return v >= 1 && v <= 4;
}

ParseResult parse_normalizer(std::string_view message, SpmModelProto::Normalizer& spec, const char* what) {
    spec.present = true;
    return for_each_field(message, what, [&](std::uint32_t field, int wt, WireReader& r, std::string& bad) {
        std::string_view s;
        std::uint64_t v = 0;
        if ((field == 1 || field == 2) && wt == kLen) {
            if (!r.bytes(s)) bad = "truncated value";
            (field == 1 ? spec.name : spec.precompiled_charsmap) = std::string(s);
            return true;
        }
        if (field >= 3 && field <= 5 && wt == kVarint) {
            if (!r.varint(v)) bad = "truncated value";
            (field == 3   ? spec.add_dummy_prefix
             : field == 4 ? spec.remove_extra_whitespaces
                          : spec.escape_whitespaces) = v != 0;
            return true;
        }
        return false;
    });
}

ParseResult parse_trainer(std::string_view message, SpmModelProto::Trainer& t) {
    return for_each_field(message, "trainer_spec", [&](std::uint32_t field, int wt, WireReader& r, std::string& bad) {
        std::string_view s;
        std::uint64_t v = 0;
        if (wt == kVarint && (field == 3 || field == 35 || field == 24)) {
            if (!r.varint(v)) bad = "truncated value";
            if (field == 3 && valid_model_type(v)) t.model_type = static_cast<int>(v);
            if (field == 35) t.byte_fallback = v != 0;
            if (field == 24) t.treat_whitespace_as_suffix = v != 0;
            return true;
        }
        if (wt == kLen && field >= 44 && field <= 48) {
            if (!r.bytes(s)) bad = "truncated value";
            std::string* out[] = {&t.unk_surface, &t.unk_piece, &t.bos_piece, &t.eos_piece, &t.pad_piece};
            *out[field - 44] = std::string(s);
            t.has_unk_surface = t.has_unk_surface || field == 44;
            return true;
        }
        return false;
    });
}

ParseResult parse_piece(std::string_view message, SpmModelProto::Piece& piece) {
    return for_each_field(message, "a piece", [&](std::uint32_t field, int wt, WireReader& r, std::string& bad) {
        std::string_view s;
        std::uint64_t v = 0;
        std::uint32_t bits = 0;
        if (field == 1 && wt == kLen) {
            if (!r.bytes(s)) bad = "truncated value";
            piece.piece = std::string(s);
            return true;
        }
        if (field == 2 && wt == kFixed32) {
            if (!r.fixed32(bits)) bad = "truncated value";
            static_assert(sizeof(float) == sizeof(std::uint32_t));
            std::memcpy(&piece.score, &bits, sizeof(bits));
            return true;
        }
        if (field == 3 && wt == kVarint) {
            if (!r.varint(v)) bad = "truncated value";
            if (valid_piece_type(v)) piece.type = static_cast<PieceType>(v);
            return true;
        }
        return false;
    });
}

ParseResult parse_self_test(std::string_view message, std::vector<SpmModelProto::SelfTestSample>& samples) {
    return for_each_field(message, "self_test_data", [&](std::uint32_t field, int wt, WireReader& r, std::string& bad) {
        if (field != 1 || wt != kLen) return false;
        std::string_view body;
        if (!r.bytes(body)) {
            bad = "truncated value";
            return true;
        }
        SpmModelProto::SelfTestSample sample;
        auto ok =
            for_each_field(body, "a self-test sample", [&](std::uint32_t f, int w, WireReader& rr, std::string& b) {
                if ((f != 1 && f != 2) || w != kLen) return false;
                std::string_view s;
                if (!rr.bytes(s)) b = "truncated value";
                (f == 1 ? sample.input : sample.expected) = std::string(s);
                return true;
            });
        if (!ok) bad = ok.error().message;
        samples.push_back(std::move(sample));
        return true;
    });
}

// ---- UTF-8 as sentencepiece's string_util sees it ---------------------------------------------------------

bool is_trail_byte(char c) {
    return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}
bool is_valid_codepoint(std::uint32_t c) {
    return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF);
}

// Length of the well-formed UTF-8 character at the start of s, or 0 when malformed (s non-empty). Overlong
// forms, surrogates and code points past U+10FFFF are malformed.
std::size_t valid_utf8_length(std::string_view s) {
    const auto c0 = static_cast<unsigned char>(s[0]);
    if (c0 < 0x80) return 1;
    if (s.size() >= 2 && (c0 & 0xE0) == 0xC0) {
        const std::uint32_t cp = ((c0 & 0x1Fu) << 6) | (static_cast<unsigned char>(s[1]) & 0x3Fu);
        return is_trail_byte(s[1]) && cp >= 0x80 && is_valid_codepoint(cp) ? 2 : 0;
    }
    if (s.size() >= 3 && (c0 & 0xF0) == 0xE0) {
        const std::uint32_t cp = ((c0 & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[1]) & 0x3Fu) << 6) |
                                 (static_cast<unsigned char>(s[2]) & 0x3Fu);
        return is_trail_byte(s[1]) && is_trail_byte(s[2]) && cp >= 0x800 && is_valid_codepoint(cp) ? 3 : 0;
    }
    if (s.size() >= 4 && (c0 & 0xF8) == 0xF0) {
        const std::uint32_t cp = ((c0 & 0x07u) << 18) | ((static_cast<unsigned char>(s[1]) & 0x3Fu) << 12) |
                                 ((static_cast<unsigned char>(s[2]) & 0x3Fu) << 6) |
                                 (static_cast<unsigned char>(s[3]) & 0x3Fu);
        return is_trail_byte(s[1]) && is_trail_byte(s[2]) && is_trail_byte(s[3]) && cp >= 0x10000 &&
                       is_valid_codepoint(cp)
                   ? 4
                   : 0;
    }
    return 0;
}

// Bytes the lead byte announces (1 for stray trail bytes), capped by what is left.
std::size_t one_char_length(std::string_view s) {
    const auto c0 = static_cast<unsigned char>(s[0]);
    const std::size_t n = c0 < 0xC0 ? 1 : c0 < 0xE0 ? 2 : c0 < 0xF0 ? 3 : 4;
    return std::min(n, s.size());
}

std::string byte_piece(unsigned char b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    return buf;
}

// "<0xXX>" with upper-case hex digits (exactly what byte_piece writes) -> 0..255, else -1.
int piece_to_byte(std::string_view piece) {
    if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
    auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
    const int hi = hex(piece[3]);
    const int lo = hex(piece[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Longest-prefix matcher over the user-defined symbols (sentencepiece's PrefixMatcher, a Darts trie).
class PrefixTrie {
public:
    void insert(std::string_view key) {
        if (nodes_.empty()) nodes_.emplace_back();
        std::size_t node = 0;
        for (char c : key) {
            const auto b = static_cast<unsigned char>(c);
            auto& edges = nodes_[node].edges;
            auto it = std::lower_bound(
                edges.begin(), edges.end(), b,
                [](const std::pair<unsigned char, std::uint32_t>& e, unsigned char x) { return e.first < x; });
            if (it != edges.end() && it->first == b) {
                node = it->second;
                continue;
            }
            const auto child = static_cast<std::uint32_t>(nodes_.size());
            edges.insert(it, {b, child});
            nodes_.emplace_back();
            node = child;
        }
        nodes_[node].terminal = true;
    }
    bool empty() const { return nodes_.empty(); }

    // Length of the longest key that is a prefix of text; 0 when none.
    std::size_t longest_match(std::string_view text) const {
        if (nodes_.empty()) return 0;
        std::size_t node = 0;
        std::size_t best = 0;
        for (std::size_t i = 0; i < text.size(); ++i) {
            const auto b = static_cast<unsigned char>(text[i]);
            const auto& edges = nodes_[node].edges;
            auto it = std::lower_bound(
                edges.begin(), edges.end(), b,
                [](const std::pair<unsigned char, std::uint32_t>& e, unsigned char x) { return e.first < x; });
            if (it == edges.end() || it->first != b) break;
            node = it->second;
            if (nodes_[node].terminal) best = i + 1;
        }
        return best;
    }

private:
    struct Node {
        std::vector<std::pair<unsigned char, std::uint32_t>> edges;  // sorted by byte
        bool terminal = false;
    };
    std::vector<Node> nodes_;
};

const char* model_type_name(int t) {
    switch (t) {
        case 1:
            return "unigram";
        case 2:
            return "BPE";
        case 3:
            return "word";
        case 4:
            return "char";
        default:
            return "unknown";
    }
}

Error invalid_model(const std::string& path, const std::string& why) {
    return Error{ErrorCode::ModelLoadFailed,
                 path + " is not a valid sentencepiece model (" + why + "). Download the tokenizer again."};
}

}  // namespace

// ---- SpmModelProto ---------------------------------------------------------------------------------------

Expected<SpmModelProto> SpmModelProto::parse(std::string_view bytes) {
    SpmModelProto proto;
    auto ok = for_each_field(bytes, "ModelProto", [&](std::uint32_t field, int wt, WireReader& r, std::string& bad) {
        if (wt != kLen || field < 1 || field > 5) return false;
        std::string_view body;
        if (!r.bytes(body)) {
            bad = "truncated value";
            return true;
        }
        ParseResult sub;
        switch (field) {
            case 1:
                proto.pieces.emplace_back();
                sub = parse_piece(body, proto.pieces.back());
                break;
            case 2:  // a message field seen twice merges, as protobuf does
                sub = parse_trainer(body, proto.trainer);
                break;
            case 3:
                sub = parse_normalizer(body, proto.normalizer, "normalizer_spec");
                break;
            case 4:
                sub = parse_self_test(body, proto.self_test);
                break;
            case 5:
                sub = parse_normalizer(body, proto.denormalizer, "denormalizer_spec");
                break;
            default:
                break;
        }
        if (!sub) bad = sub.error().message;
        return true;
    });
    if (!ok) {
        return Unexpected{ok.error()};
    }
    return proto;
}

// ---- SpmBpeModel -----------------------------------------------------------------------------------------

struct SpmBpeModel::Impl {
    std::string path;
    SpmModelProto proto;
    std::unordered_map<std::string_view, std::int32_t> pieces;    // NORMAL, USER_DEFINED, UNUSED
    std::unordered_map<std::string_view, std::int32_t> reserved;  // CONTROL, UNKNOWN, BYTE
    std::int32_t unk = -1;
    PrefixTrie user_symbols;
    std::int32_t byte_fallback_ids[256] = {};  // piece_to_id("<0xXX>")

    PieceType type(std::int32_t id) const { return proto.pieces[static_cast<std::size_t>(id)].type; }

    std::int32_t piece_to_id(std::string_view piece) const {
        if (auto it = reserved.find(piece); it != reserved.end()) return it->second;
        if (auto it = pieces.find(piece); it != pieces.end()) return it->second;
        return unk;
    }

    // Sentencepiece's trainer-spec piece names fall back to the defaults when empty.
    std::int32_t special_id(const std::string& piece, const char* fallback, PieceType wanted) const {
        const std::int32_t id = piece_to_id(piece.empty() ? std::string_view(fallback) : std::string_view(piece));
        return type(id) == wanted ? id : -1;
    }

    // User-defined symbol at the start of text (longest), else one character.
    std::size_t prefix_match(std::string_view text, bool& found) const {
        const std::size_t n = user_symbols.longest_match(text);
        found = n > 0;
        return found ? n : one_char_length(text);
    }

    std::string normalize(std::string_view input) const;
    std::vector<std::pair<std::string_view, std::int32_t>> bpe(std::string_view normalized) const;
    Expected<void> encode(std::string_view text, std::vector<std::int32_t>* ids,
                          std::vector<std::string>* piece_strings) const;
};

// Normalizer::Normalize without a character map: each step takes a user-defined symbol or one UTF-8
// character (a malformed byte becomes U+FFFD); spaces become U+2581 when escape_whitespaces is on.
std::string SpmBpeModel::Impl::normalize(std::string_view input) const {
    std::string out;
    if (input.empty()) return out;
    const auto& spec = proto.normalizer;
    const bool suffix = proto.trainer.treat_whitespace_as_suffix;
    auto next_unit = [&](std::string_view in) -> std::pair<std::string_view, std::size_t> {
        if (const std::size_t n = user_symbols.longest_match(in); n > 0) return {in.substr(0, n), n};
        const std::size_t len = valid_utf8_length(in);
        if (len == 0) return {kReplacementChar, 1};
        return {in.substr(0, len), len};
    };
    if (spec.remove_extra_whitespaces) {
        while (!input.empty()) {
            const auto unit = next_unit(input);
            if (unit.first != " ") break;
            input.remove_prefix(unit.second);
        }
    }
    if (input.empty()) return out;

    const std::string_view space = spec.escape_whitespaces ? kSpaceSymbol : std::string_view(" ");
    out.reserve(input.size() * 3);
    if (!suffix && spec.add_dummy_prefix) out.append(space);
    bool is_prev_space = spec.remove_extra_whitespaces;
    while (!input.empty()) {
        auto [sp, consumed] = next_unit(input);
        while (is_prev_space && !sp.empty() && sp.front() == ' ') sp.remove_prefix(1);
        if (!sp.empty()) {
            for (char c : sp) {
                if (spec.escape_whitespaces && c == ' ') {
                    out.append(kSpaceSymbol);
                } else {
                    out.push_back(c);
                }
            }
            is_prev_space = sp.back() == ' ';
        }
        input.remove_prefix(consumed);
        if (!spec.remove_extra_whitespaces) is_prev_space = false;
    }
    if (spec.remove_extra_whitespaces) {
        while (out.size() >= space.size() && std::string_view(out).substr(out.size() - space.size()) == space) {
            out.resize(out.size() - space.size());
        }
    }
    if (suffix && spec.add_dummy_prefix) out.append(space);
    return out;
}

// bpe::Model::SampleEncode without dropout. Returns (piece, id) with unknown pieces as unk_id.
std::vector<std::pair<std::string_view, std::int32_t>> SpmBpeModel::Impl::bpe(std::string_view normalized) const {
    std::vector<std::pair<std::string_view, std::int32_t>> output;
    if (normalized.empty()) return output;

    struct Symbol {
        int prev;
        int next;
        bool freeze;
        std::string_view piece;
    };
    struct SymbolPair {
        int left;
        int right;
        float score;
        std::size_t size;
    };
    // Highest score first; on equal scores the leftmost pair (the same order as sentencepiece's agenda).
    struct Lower {
        bool operator()(const SymbolPair& a, const SymbolPair& b) const {
            return a.score < b.score || (a.score == b.score && a.left > b.left);
        }
    };
    std::priority_queue<SymbolPair, std::vector<SymbolPair>, Lower> agenda;
    std::vector<Symbol> symbols;
    symbols.reserve(normalized.size());
    // UNUSED merged piece -> the two pieces it was last proposed from (sentencepiece keeps the latest).
    std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> rev_merge;

    auto maybe_add_pair = [&](int left, int right) {
        if (left == -1 || right == -1 || symbols[left].freeze || symbols[right].freeze) return;
        const std::string_view piece(symbols[left].piece.data(),
                                     symbols[left].piece.size() + symbols[right].piece.size());
        const auto it = pieces.find(piece);
        if (it == pieces.end()) return;
        agenda.push(SymbolPair{left, right, proto.pieces[static_cast<std::size_t>(it->second)].score, piece.size()});
        if (type(it->second) == PieceType::Unused) {
            rev_merge[piece] = {symbols[left].piece, symbols[right].piece};
        }
    };

    std::string_view rest = normalized;
    int index = 0;
    while (!rest.empty()) {
        Symbol s{};
        const std::size_t len = prefix_match(rest, s.freeze);
        s.piece = rest.substr(0, len);
        s.prev = index == 0 ? -1 : index - 1;
        rest.remove_prefix(len);
        s.next = rest.empty() ? -1 : index + 1;
        ++index;
        symbols.push_back(s);
    }
    for (std::size_t i = 1; i < symbols.size(); ++i) {
        maybe_add_pair(static_cast<int>(i) - 1, static_cast<int>(i));
    }

    while (!agenda.empty()) {
        const SymbolPair top = agenda.top();
        agenda.pop();
        Symbol& left = symbols[static_cast<std::size_t>(top.left)];
        Symbol& right = symbols[static_cast<std::size_t>(top.right)];
        // Stale: one side was merged away or grew since the pair was queued.
        if (left.piece.empty() || right.piece.empty() || left.piece.size() + right.piece.size() != top.size) {
            continue;
        }
        left.piece = std::string_view(left.piece.data(), left.piece.size() + right.piece.size());
        left.next = right.next;
        if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = top.left;
        right.piece = std::string_view();
        maybe_add_pair(left.prev, top.left);
        maybe_add_pair(top.left, left.next);
    }

    // UNUSED pieces are not emitted: they are split back into the pieces they were merged from.
    std::function<void(std::string_view)> resegment = [&](std::string_view w) {
        const std::int32_t id = piece_to_id(w);
        if (type(id) != PieceType::Unused) {
            output.emplace_back(w, id);
            return;
        }
        const auto it = rev_merge.find(w);
        if (it == rev_merge.end()) {
            output.emplace_back(w, id);
            return;
        }
        const auto parts = it->second;
        resegment(parts.first);
        resegment(parts.second);
    };
    for (int i = 0; i != -1; i = symbols[static_cast<std::size_t>(i)].next) {
        resegment(symbols[static_cast<std::size_t>(i)].piece);
    }
    return output;
}

// SentencePieceProcessor::Encode: normalise, BPE, then byte fallback / <unk> runs.
Expected<void> SpmBpeModel::Impl::encode(std::string_view text, std::vector<std::int32_t>* ids,
                                         std::vector<std::string>* piece_strings) const {
    const std::string normalized = normalize(text);
    const auto result = bpe(normalized);
    std::size_t consumed = 0;
    bool is_prev_unk = false;
    for (const auto& [w, id] : result) {
        const bool is_unk = type(id) == PieceType::Unknown;
        if (type(id) == PieceType::Control) {
            // A control piece has no surface: it consumes nothing (and the check below then fails).
            if (ids) ids->push_back(id);
            if (piece_strings) piece_strings->emplace_back(w);
        } else {
            if (is_unk && proto.trainer.byte_fallback) {
                for (char c : w) {
                    const auto b = static_cast<unsigned char>(c);
                    if (ids) ids->push_back(byte_fallback_ids[b]);
                    if (piece_strings) piece_strings->push_back(byte_piece(b));
                }
            } else if (is_prev_unk && is_unk) {
                // A run of unknown characters is one <unk>.
                if (piece_strings) piece_strings->back().append(w);
            } else {
                if (ids) ids->push_back(id);
                if (piece_strings) piece_strings->emplace_back(w);
            }
            consumed += w.size();
        }
        is_prev_unk = is_unk;
    }
    if (consumed != normalized.size()) {
        return make_error(ErrorCode::InvalidRequest,
                          "sentencepiece could not encode the text: all normalized characters are not consumed "
                          "(the model has a control piece that matches the text)");
    }
    return {};
}

SpmBpeModel::SpmBpeModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SpmBpeModel::SpmBpeModel(SpmBpeModel&&) noexcept = default;
SpmBpeModel& SpmBpeModel::operator=(SpmBpeModel&&) noexcept = default;
SpmBpeModel::~SpmBpeModel() = default;

Expected<SpmBpeModel> SpmBpeModel::load(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        return make_error(ErrorCode::ModelNotFound, "Missing sentencepiece model: " + path);
    }
    if (!fs::is_regular_file(path, ec)) {
        return make_error(ErrorCode::ModelLoadFailed, path + " is not a file (expected a sentencepiece .model).");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_error(ErrorCode::IoError, "Cannot read the sentencepiece model " + path);
    }
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
        return make_error(ErrorCode::IoError, "Cannot read the sentencepiece model " + path);
    }
    return from_serialized(bytes, path);
}

Expected<SpmBpeModel> SpmBpeModel::from_serialized(std::string_view bytes, const std::string& path) {
    if (bytes.empty()) {
        return make_error(ErrorCode::ModelLoadFailed,
                          path + " is empty; it is not a sentencepiece model. Download the tokenizer again.");
    }
    auto parsed = SpmModelProto::parse(bytes);
    if (!parsed) {
        return Unexpected{invalid_model(path, parsed.error().message)};
    }
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->proto = std::move(parsed).value();
    const SpmModelProto& proto = impl->proto;
    if (proto.pieces.empty()) {
        return Unexpected{invalid_model(path, "no vocabulary")};
    }

    // ModelInterface::InitializePieces.
    std::vector<bool> byte_found(256, false);
    for (std::size_t i = 0; i < proto.pieces.size(); ++i) {
        const auto& sp = proto.pieces[i];
        const auto id = static_cast<std::int32_t>(i);
        if (sp.piece.empty()) {
            return Unexpected{invalid_model(path, "piece " + std::to_string(i) + " is empty")};
        }
        const bool normal =
            sp.type == PieceType::Normal || sp.type == PieceType::UserDefined || sp.type == PieceType::Unused;
        auto& map = normal ? impl->pieces : impl->reserved;
        if (!map.emplace(std::string_view(sp.piece), id).second) {
            return Unexpected{invalid_model(path, "the piece '" + sp.piece + "' is defined twice")};
        }
        if (sp.type == PieceType::UserDefined) {
            // The trie is built from C strings: a symbol ends at its first NUL.
            const std::string_view key(sp.piece.c_str());
            if (!key.empty()) impl->user_symbols.insert(key);
        }
        if (sp.type == PieceType::Unknown) {
            if (impl->unk >= 0) {
                return Unexpected{invalid_model(path, "more than one unknown piece")};
            }
            impl->unk = id;
        }
        if (sp.type == PieceType::Byte) {
            if (!proto.trainer.byte_fallback) {
                return Unexpected{
                    invalid_model(path, "byte piece " + sp.piece + " is found although byte_fallback is false")};
            }
            const int b = piece_to_byte(sp.piece);
            if (b < 0) {
                return Unexpected{invalid_model(path, "byte piece " + sp.piece + " is invalid")};
            }
            byte_found[static_cast<std::size_t>(b)] = true;
        }
    }
    if (impl->unk < 0) {
        return Unexpected{invalid_model(path, "the model has no unknown piece")};
    }
    if (proto.trainer.byte_fallback) {
        for (int b = 0; b < 256; ++b) {
            if (!byte_found[static_cast<std::size_t>(b)]) {
                return Unexpected{invalid_model(path, "byte_fallback is on but there are not 256 byte pieces")};
            }
        }
    }
    // What this encoder implements (checked after the pieces, so that a file that is no model at all is
    // reported as such); sentencepiece itself would load these, so say why we do not.
    const std::string fallback_note =
        " Kinora's built-in sentencepiece encoder (used when the sentencepiece bridge is unavailable or "
        "KINORA_FORCE_BUILTIN_SPM is set) "
        "implements only BPE models with an identity normaliser, like Gemma's; use a build with sentencepiece "
        "(KINORA_WITH_SENTENCEPIECE=ON) for this tokenizer.";
    if (proto.trainer.model_type != static_cast<int>(SpmModelProto::ModelType::Bpe)) {
        return make_error(
            ErrorCode::UnsupportedModel,
            path + " is a sentencepiece " + model_type_name(proto.trainer.model_type) + " model." + fallback_note);
    }
    if (!proto.normalizer.precompiled_charsmap.empty()) {
        return make_error(ErrorCode::UnsupportedModel, path + " normalises text with the sentencepiece normaliser '" +
                                                           proto.normalizer.name + "' (a precompiled character map)." +
                                                           fallback_note);
    }
    if (proto.denormalizer.present && !proto.denormalizer.precompiled_charsmap.empty()) {
        return make_error(ErrorCode::UnsupportedModel, path + " has a sentencepiece denormaliser ('" +
                                                           proto.denormalizer.name + "')." + fallback_note);
    }

    for (int b = 0; b < 256; ++b) {
        impl->byte_fallback_ids[b] = impl->piece_to_id(byte_piece(static_cast<unsigned char>(b)));
    }

    SpmBpeModel model(std::move(impl));
    // Sentencepiece checks the samples a model carries at load time.
    int failures = 0;
    std::string first_failure;
    for (const auto& sample : model.impl_->proto.self_test) {
        std::vector<std::string> pieces;
        auto ok = model.impl_->encode(sample.input, nullptr, &pieces);
        std::string joined;
        for (const auto& p : pieces) joined += (joined.empty() ? "" : " ") + p;
        if (!ok || joined != sample.expected) {
            if (failures++ == 0) first_failure = "'" + sample.input + "' gives '" + joined + "'";
        }
    }
    if (failures > 0) {
        return Unexpected{invalid_model(path, "self-test failures: " + std::to_string(failures) + " of " +
                                                  std::to_string(model.impl_->proto.self_test.size()) + " samples; " +
                                                  first_failure)};
    }
    return model;
}

Expected<std::vector<std::int32_t>> SpmBpeModel::encode(std::string_view text) const {
    std::vector<std::int32_t> ids;
    auto ok = impl_->encode(text, &ids, nullptr);
    if (!ok) return Unexpected{ok.error()};
    return ids;
}

Expected<std::vector<std::string>> SpmBpeModel::encode_as_pieces(std::string_view text) const {
    std::vector<std::string> pieces;
    auto ok = impl_->encode(text, nullptr, &pieces);
    if (!ok) return Unexpected{ok.error()};
    return pieces;
}

// SentencePieceProcessor::Decode: ids -> pieces -> ids again (so duplicate pieces resolve as in encode),
// byte pieces decoded as UTF-8 runs, control pieces dropped, <unk> as the unknown surface.
Expected<std::string> SpmBpeModel::decode(const std::vector<std::int32_t>& ids) const {
    const Impl& m = *impl_;
    const auto n_pieces = static_cast<std::int32_t>(m.proto.pieces.size());
    std::vector<std::pair<std::string_view, std::int32_t>> seq;
    seq.reserve(ids.size());
    for (std::int32_t id : ids) {
        if (id < 0 || id >= n_pieces) {
            return make_error(ErrorCode::InvalidRequest,
                              "sentencepiece could not decode the ids: Invalid id: " + std::to_string(id));
        }
        const std::string_view piece = m.proto.pieces[static_cast<std::size_t>(id)].piece;
        seq.emplace_back(piece, m.piece_to_id(piece));
    }
    const auto& spec = m.proto.normalizer;
    const std::string unk_surface =
        m.proto.trainer.has_unk_surface ? std::string(m.proto.trainer.unk_surface.c_str()) : " \xE2\x81\x87 ";

    std::string text;
    auto decode_piece = [&](std::string_view piece, std::int32_t id, bool is_bos_ws) -> std::pair<std::string, bool> {
        if (m.type(id) == PieceType::Control) return {std::string(), false};
        if (m.type(id) == PieceType::Unknown) {
            return {m.proto.pieces[static_cast<std::size_t>(id)].piece == piece ? unk_surface : std::string(piece),
                    false};
        }
        bool has_bos_ws = false;
        if (is_bos_ws && (spec.add_dummy_prefix || spec.remove_extra_whitespaces)) {
            if (piece.substr(0, kSpaceSymbol.size()) == kSpaceSymbol) {
                piece.remove_prefix(kSpaceSymbol.size());
                has_bos_ws = true;
            }
            if (spec.remove_extra_whitespaces) has_bos_ws = false;
        }
        std::string out;
        out.reserve(piece.size());
        for (std::size_t i = 0; i < piece.size();) {
            if (piece.substr(i, kSpaceSymbol.size()) == kSpaceSymbol) {
                out.push_back(' ');
                i += kSpaceSymbol.size();
            } else {
                out.push_back(piece[i++]);
            }
        }
        return {out, has_bos_ws};
    };
    auto flush_bytes = [&](std::size_t begin, std::size_t end) {
        std::string bytes;
        for (std::size_t i = begin; i < end; ++i) {
            bytes.push_back(static_cast<char>(piece_to_byte(seq[i].first)));
        }
        std::string_view rest(bytes);
        while (!rest.empty()) {
            const std::size_t len = valid_utf8_length(rest);
            if (len == 0) {
                text.append(kReplacementChar);
                rest.remove_prefix(1);
            } else {
                text.append(rest.substr(0, len));
                rest.remove_prefix(len);
            }
        }
    };
    std::size_t byte_start = 0;
    bool is_bos_ws = true;
    bool bos_ws_seen = false;
    for (std::size_t i = 0; i < seq.size(); ++i) {
        if (m.type(seq[i].second) == PieceType::Byte) continue;
        flush_bytes(byte_start, i);
        if (bos_ws_seen || !text.empty()) is_bos_ws = false;
        byte_start = i + 1;
        auto [surface, seen] = decode_piece(seq[i].first, seq[i].second, is_bos_ws);
        bos_ws_seen = seen;
        text += surface;
    }
    flush_bytes(byte_start, seq.size());
    return text;
}

std::int32_t SpmBpeModel::piece_to_id(std::string_view piece) const {
    return impl_->piece_to_id(piece);
}
std::int32_t SpmBpeModel::vocab_size() const {
    return static_cast<std::int32_t>(impl_->proto.pieces.size());
}
std::int32_t SpmBpeModel::bos_id() const {
    return impl_->special_id(impl_->proto.trainer.bos_piece, "<s>", PieceType::Control);
}
std::int32_t SpmBpeModel::eos_id() const {
    return impl_->special_id(impl_->proto.trainer.eos_piece, "</s>", PieceType::Control);
}
std::int32_t SpmBpeModel::pad_id() const {
    return impl_->special_id(impl_->proto.trainer.pad_piece, "<pad>", PieceType::Control);
}
std::int32_t SpmBpeModel::unk_id() const {
    return impl_->special_id(impl_->proto.trainer.unk_piece, "<unk>", PieceType::Unknown);
}
const std::string& SpmBpeModel::path() const {
    return impl_->path;
}

}  // namespace engine::tokenizers
