#include "tokenizers/clip_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/json.h"
#include "tokenizers/clip_text_clean.h"
#include "tokenizers/gzip_file.h"
#include "tokenizers/text_unicode.h"

namespace engine::tokenizers {
namespace {

namespace fs = std::filesystem;

// open_clip / CLIP keep the first 49152 - 256 - 2 merges (lines 1..48894 after the version line).
constexpr std::size_t kNumMerges = 49152 - 256 - 2;
constexpr const char* kOpenClipSot = "<start_of_text>";
constexpr const char* kOpenClipEot = "<end_of_text>";
constexpr const char* kHfSot = "<|startoftext|>";
constexpr const char* kHfEot = "<|endoftext|>";
constexpr const char* kEndOfWord = "</w>";

// bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 bytes get
// U+0100.. in byte order. Returned in the order of the dict's values (printable bytes first).
std::vector<std::pair<std::uint8_t, char32_t>> bytes_to_unicode() {
    std::vector<std::pair<std::uint8_t, char32_t>> out;
    auto printable = [](int b) {
        return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    for (int b = 0; b < 256; ++b) {
        if (printable(b)) {
            out.emplace_back(static_cast<std::uint8_t>(b), static_cast<char32_t>(b));
        }
    }
    char32_t n = 0;
    for (int b = 0; b < 256; ++b) {
        if (!printable(b)) {
            out.emplace_back(static_cast<std::uint8_t>(b), 256 + n++);
        }
    }
    return out;
}

std::string utf8_of(char32_t cp) {
    std::string s;
    append_utf8(s, cp);
    return s;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (true) {
        const std::size_t nl = text.find('\n', start);
        if (nl == std::string::npos) {
            lines.push_back(text.substr(start));
            break;
        }
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return lines;
}

// Python's str.split() on a merges line (ASCII whitespace suffices: symbols never contain any).
std::vector<std::string> split_whitespace(const std::string& line) {
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() &&
               (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\f' || line[i] == '\v')) {
            ++i;
        }
        std::size_t j = i;
        while (j < line.size() &&
               !(line[j] == ' ' || line[j] == '\t' || line[j] == '\r' || line[j] == '\f' || line[j] == '\v')) {
            ++j;
        }
        if (j > i) {
            parts.push_back(line.substr(i, j - i));
        }
        i = j;
    }
    return parts;
}

// lines[1 : 1 + kNumMerges] as (first, second) pairs.
Expected<std::vector<std::pair<std::string, std::string>>> parse_merges(const std::vector<std::string>& lines,
                                                                        const std::string& what) {
    std::vector<std::pair<std::string, std::string>> merges;
    const std::size_t end = std::min(lines.size(), 1 + kNumMerges);
    for (std::size_t i = 1; i < end; ++i) {
        const auto parts = split_whitespace(lines[i]);
        if (parts.size() != 2) {
            return make_error(ErrorCode::ModelLoadFailed, what + ": line " + std::to_string(i + 1) +
                                                              " is not a merge (two symbols separated by a space)");
        }
        merges.emplace_back(parts[0], parts[1]);
    }
    if (merges.empty()) {
        return make_error(ErrorCode::ModelLoadFailed, what + " holds no merges");
    }
    return merges;
}

std::u32string_view::size_type match_literal(std::u32string_view text, std::size_t pos, const char* literal) {
    std::size_t n = 0;
    for (const char* p = literal; *p != '\0'; ++p, ++n) {
        if (pos + n >= text.size() || text[pos + n] != static_cast<char32_t>(*p)) {
            return 0;
        }
    }
    return n;
}

// The contraction alternatives 's 't 're 've 'm 'll 'd, case-insensitively (the regex's IGNORECASE
// also lets U+017F LONG S match 's').
std::size_t match_contraction(std::u32string_view text, std::size_t pos) {
    if (text[pos] != '\'' || pos + 1 >= text.size()) {
        return 0;
    }
    auto lower_ascii = [](char32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; };
    const char32_t a = lower_ascii(text[pos + 1]);
    const char32_t b = pos + 2 < text.size() ? lower_ascii(text[pos + 2]) : 0;
    if (a == 's' || a == 0x017F || a == 't' || a == 'm' || a == 'd') {
        return 2;
    }
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
        return 3;
    }
    return 0;
}

// re.findall(pattern, text) of SimpleTokenizer.
std::vector<std::u32string_view> pre_tokenize(std::u32string_view text) {
    std::vector<std::u32string_view> pieces;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t len = match_literal(text, pos, kOpenClipSot);
        if (len == 0) {
            len = match_literal(text, pos, kOpenClipEot);
        }
        if (len == 0) {
            len = match_contraction(text, pos);
        }
        if (len == 0) {
            const char32_t c = text[pos];
            std::size_t end = pos + 1;
            if (is_letter(c)) {
                while (end < text.size() && is_letter(text[end])) {
                    ++end;
                }
                len = end - pos;
            } else if (is_number(c)) {
                len = 1;
            } else if (!is_white_space(c)) {
                while (end < text.size() && !is_white_space(text[end]) && !is_letter(text[end]) &&
                       !is_number(text[end])) {
                    ++end;
                }
                len = end - pos;
            }
        }
        if (len == 0) {
            ++pos;  // whitespace: no alternative matches here
            continue;
        }
        pieces.push_back(text.substr(pos, len));
        pos += len;
    }
    return pieces;
}

}  // namespace

CLIPTokenizer::CLIPTokenizer() = default;

Expected<CLIPTokenizer> CLIPTokenizer::build(std::unordered_map<std::string, std::int32_t> encoder,
                                             const std::vector<std::pair<std::string, std::string>>& merges,
                                             const std::string& what) {
    CLIPTokenizer tok;
    for (const auto& [byte, cp] : bytes_to_unicode()) {
        tok.byte_encoder_[byte] = utf8_of(cp);
        tok.byte_decoder_[utf8_of(cp)] = byte;
    }
    for (std::size_t i = 0; i < merges.size(); ++i) {
        tok.ranks_[merges[i].first + " " + merges[i].second] = static_cast<std::int32_t>(i);  // later wins, as dict()
    }
    std::int32_t max_id = -1;
    for (const auto& [token, id] : encoder) {
        if (id < 0) {
            return make_error(ErrorCode::ModelLoadFailed, what + ": negative id for '" + token + "'");
        }
        max_id = std::max(max_id, id);
    }
    tok.decoder_.assign(static_cast<std::size_t>(max_id) + 1, std::string());
    for (const auto& [token, id] : encoder) {
        tok.decoder_[static_cast<std::size_t>(id)] = token;
    }
    // Every single symbol and every merge result must have an id, or encoding would fail later.
    for (const auto& [byte, symbol] : bytes_to_unicode()) {
        (void)byte;
        const std::string s = utf8_of(symbol);
        if (encoder.count(s) == 0 || encoder.count(s + kEndOfWord) == 0) {
            return make_error(ErrorCode::ModelLoadFailed, what + " lacks the byte symbol '" + s + "'");
        }
    }
    for (const auto& [first, second] : merges) {
        if (encoder.count(first + second) == 0) {
            return make_error(ErrorCode::ModelLoadFailed,
                              what + ": the merge '" + first + " " + second + "' has no vocabulary entry");
        }
    }
    auto find_special = [&](const char* a, const char* b) -> std::int32_t {
        if (auto it = encoder.find(a); it != encoder.end()) {
            return it->second;
        }
        if (auto it = encoder.find(b); it != encoder.end()) {
            return it->second;
        }
        return -1;
    };
    tok.sot_id_ = find_special(kOpenClipSot, kHfSot);
    tok.eot_id_ = find_special(kOpenClipEot, kHfEot);
    if (tok.sot_id_ < 0 || tok.eot_id_ < 0) {
        return make_error(ErrorCode::ModelLoadFailed,
                          what + " has no start/end-of-text tokens (" + std::string(kHfSot) + ", " + kHfEot + ")");
    }
    tok.encoder_ = std::move(encoder);
    return tok;
}

Expected<CLIPTokenizer> CLIPTokenizer::load_open_clip_vocab(const std::string& bpe_gz_path) {
    auto text = read_gzip_file(bpe_gz_path);
    if (!text) {
        return Unexpected{text.error()};
    }
    auto merges = parse_merges(split_lines(text.value()), bpe_gz_path);
    if (!merges) {
        return Unexpected{merges.error()};
    }
    // The vocabulary: the 256 byte symbols, the same with "</w>", one entry per merge, the specials.
    std::vector<std::string> vocab;
    const auto alphabet = bytes_to_unicode();
    for (const auto& entry : alphabet) {
        vocab.push_back(utf8_of(entry.second));
    }
    for (const auto& entry : alphabet) {
        vocab.push_back(utf8_of(entry.second) + kEndOfWord);
    }
    for (const auto& [first, second] : merges.value()) {
        vocab.push_back(first + second);
    }
    vocab.push_back(kOpenClipSot);
    vocab.push_back(kOpenClipEot);
    std::unordered_map<std::string, std::int32_t> encoder;
    for (std::size_t i = 0; i < vocab.size(); ++i) {
        encoder[vocab[i]] = static_cast<std::int32_t>(i);  // later wins, as dict(zip(...))
    }
    return build(std::move(encoder), merges.value(), bpe_gz_path);
}

Expected<CLIPTokenizer> CLIPTokenizer::load_hf_vocab(const std::string& vocab_json_path,
                                                     const std::string& merges_path) {
    auto json = core::read_json_file(vocab_json_path);
    if (!json) {
        return Unexpected{json.error()};
    }
    if (!json->is_object() || json->empty()) {
        return make_error(ErrorCode::ModelLoadFailed, vocab_json_path + " is not a token -> id object");
    }
    std::unordered_map<std::string, std::int32_t> encoder;
    for (const auto& [token, id] : json->items()) {
        if (!id.is_number_integer()) {
            return make_error(ErrorCode::ModelLoadFailed,
                              vocab_json_path + ": the id of '" + token + "' is not an integer");
        }
        encoder[token] = id.get<std::int32_t>();
    }
    std::ifstream in(merges_path, std::ios::binary);
    if (!in) {
        return make_error(ErrorCode::ModelNotFound, "Missing file: " + merges_path);
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Hugging Face: merges_handle.read().strip().split("\n")[1:49152-256-2+1]
    const auto first = text.find_first_not_of(" \t\r\n\f\v");
    const auto last = text.find_last_not_of(" \t\r\n\f\v");
    text = first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
    auto merges = parse_merges(split_lines(text), merges_path);
    if (!merges) {
        return Unexpected{merges.error()};
    }
    return build(std::move(encoder), merges.value(), vocab_json_path + " + " + merges_path);
}

Expected<CLIPTokenizer> CLIPTokenizer::load(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        return make_error(ErrorCode::ModelNotFound, "Missing CLIP tokenizer vocabulary: " + path);
    }
    if (!fs::is_directory(path, ec)) {
        return load_open_clip_vocab(path);
    }
    const fs::path dir(path);
    if (fs::exists(dir / "vocab.json", ec) && fs::exists(dir / "merges.txt", ec)) {
        return load_hf_vocab((dir / "vocab.json").string(), (dir / "merges.txt").string());
    }
    if (fs::exists(dir / "bpe_simple_vocab_16e6.txt.gz", ec)) {
        return load_open_clip_vocab((dir / "bpe_simple_vocab_16e6.txt.gz").string());
    }
    return make_error(ErrorCode::ModelNotFound,
                      "No CLIP vocabulary in " + path +
                          ": expected vocab.json + merges.txt (Hugging Face, e.g. from "
                          "laion/CLIP-ViT-H-14-laion2B-s32B-b79K) or bpe_simple_vocab_16e6.txt.gz (open_clip).");
}

std::int32_t CLIPTokenizer::token_to_id(const std::string& token) const {
    const auto it = encoder_.find(token);
    return it == encoder_.end() ? -1 : it->second;
}

Expected<void> CLIPTokenizer::bpe(const std::string& token, std::vector<std::int32_t>& out) const {
    // token: UTF-8 of byte symbols. Split into symbols (one code point each), "</w>" on the last.
    std::vector<std::string> word;
    for (std::size_t i = 0; i < token.size();) {
        const auto lead = static_cast<unsigned char>(token[i]);
        const std::size_t len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : 4;
        word.push_back(token.substr(i, len));
        i += len;
    }
    word.back() += kEndOfWord;
    while (word.size() > 1) {
        // the adjacent pair with the lowest rank
        std::int32_t best_rank = std::numeric_limits<std::int32_t>::max();
        std::size_t best = word.size();
        for (std::size_t i = 0; i + 1 < word.size(); ++i) {
            const auto it = ranks_.find(word[i] + " " + word[i + 1]);
            if (it != ranks_.end() && it->second < best_rank) {
                best_rank = it->second;
                best = i;
            }
        }
        if (best == word.size()) {
            break;
        }
        const std::string first = word[best];
        const std::string second = word[best + 1];
        // merge every occurrence, left to right
        std::vector<std::string> merged;
        merged.reserve(word.size());
        for (std::size_t i = 0; i < word.size();) {
            if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
                merged.push_back(first + second);
                i += 2;
            } else {
                merged.push_back(word[i]);
                ++i;
            }
        }
        word = std::move(merged);
    }
    for (const auto& symbol : word) {
        const auto it = encoder_.find(symbol);
        if (it == encoder_.end()) {
            return make_error(ErrorCode::ModelLoadFailed, "The CLIP vocabulary has no entry for '" + symbol + "'");
        }
        out.push_back(it->second);
    }
    return {};
}

Expected<std::vector<std::int32_t>> CLIPTokenizer::encode(std::string_view text) const {
    std::u32string codepoints;
    std::size_t bad = 0;
    if (!decode_utf8(text, codepoints, &bad)) {
        return make_error(ErrorCode::InvalidRequest,
                          "The prompt is not valid UTF-8 (bad byte at offset " + std::to_string(bad) + ")");
    }
    const std::u32string cleaned = clip_clean_text(codepoints);
    std::vector<std::int32_t> ids;
    for (const std::u32string_view piece : pre_tokenize(cleaned)) {
        if (piece == U"<start_of_text>") {
            ids.push_back(sot_id_);
            continue;
        }
        if (piece == U"<end_of_text>") {
            ids.push_back(eot_id_);
            continue;
        }
        std::string symbols;
        for (const unsigned char byte : encode_utf8(piece)) {
            symbols += byte_encoder_[byte];
        }
        if (auto ok = bpe(symbols, ids); !ok) {
            return Unexpected{ok.error()};
        }
    }
    return ids;
}

Expected<TokenBatch> CLIPTokenizer::tokenize(const std::vector<std::string>& texts, std::int64_t context_length) const {
    if (context_length < 2) {
        return make_error(ErrorCode::InvalidRequest,
                          "CLIP context length " + std::to_string(context_length) + " is too short (at least 2)");
    }
    TokenBatch batch;
    batch.batch_size = static_cast<std::int64_t>(texts.size());
    batch.sequence_length = context_length;
    batch.input_ids.assign(static_cast<std::size_t>(batch.batch_size * context_length), 0);
    batch.attention_mask.assign(batch.input_ids.size(), 0);
    for (std::size_t b = 0; b < texts.size(); ++b) {
        auto ids = encode(texts[b]);
        if (!ids) {
            return Unexpected{ids.error()};
        }
        std::vector<std::int32_t> tokens;
        tokens.reserve(ids->size() + 2);
        tokens.push_back(sot_id_);
        tokens.insert(tokens.end(), ids->begin(), ids->end());
        tokens.push_back(eot_id_);
        if (static_cast<std::int64_t>(tokens.size()) > context_length) {
            tokens.resize(static_cast<std::size_t>(context_length));
            tokens.back() = eot_id_;
        }
        const std::size_t offset = b * static_cast<std::size_t>(context_length);
        for (std::size_t t = 0; t < tokens.size(); ++t) {
            batch.input_ids[offset + t] = tokens[t];
            batch.attention_mask[offset + t] = 1;
        }
    }
    return batch;
}

std::string CLIPTokenizer::decode(const std::vector<std::int32_t>& ids) const {
    std::string symbols;
    for (std::int32_t id : ids) {
        if (id >= 0 && static_cast<std::size_t>(id) < decoder_.size()) {
            symbols += decoder_[static_cast<std::size_t>(id)];
        }
    }
    std::u32string cps;
    decode_utf8(symbols, cps);
    std::string bytes;
    for (char32_t cp : cps) {
        const auto it = byte_decoder_.find(utf8_of(cp));
        if (it != byte_decoder_.end()) {
            bytes += static_cast<char>(it->second);
        }
    }
    // bytes.decode("utf-8", errors="replace").replace("</w>", " ")
    std::u32string text;
    for (std::size_t i = 0; i < bytes.size();) {
        std::u32string one;
        std::size_t len = 1;
        const auto lead = static_cast<unsigned char>(bytes[i]);
        len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
        if (i + len <= bytes.size() && decode_utf8(std::string_view(bytes).substr(i, len), one)) {
            text += one;
            i += len;
        } else {
            text += char32_t{0xFFFD};
            ++i;
        }
    }
    std::string out = encode_utf8(text);
    for (std::size_t pos = out.find(kEndOfWord); pos != std::string::npos; pos = out.find(kEndOfWord, pos + 1)) {
        out.replace(pos, 4, " ");
    }
    return out;
}

}  // namespace engine::tokenizers
