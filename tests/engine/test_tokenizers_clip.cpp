// open_clip's SimpleTokenizer (VideoCrafter / DynamiCrafter) against open_clip.tokenize output in the
// clip_tokenizer golden, with both vocabulary forms.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "support/golden_case.h"
#include "tokenizers/clip_tokenizer.h"
#include "tokenizers/gzip_file.h"

namespace fs = std::filesystem;
using engine::ErrorCode;
using engine::tokenizers::CLIPTokenizer;

namespace {

enum class VocabForm { OpenClipGz, HuggingFace, Folder };

engine::Expected<CLIPTokenizer> load_form(const test_support::GoldenCase& gc, VocabForm form) {
    switch (form) {
        case VocabForm::OpenClipGz:
            return CLIPTokenizer::load_open_clip_vocab(gc.file("bpe_simple_vocab_16e6.txt.gz").string());
        case VocabForm::HuggingFace:
            return CLIPTokenizer::load_hf_vocab(gc.file("vocab.json").string(), gc.file("merges.txt").string());
        case VocabForm::Folder:
            return CLIPTokenizer::load(gc.dir().string());
    }
    return engine::make_error(ErrorCode::Internal, "unreachable");
}

fs::path make_temp_dir(const std::string& tag) {
    std::random_device rd;
    const fs::path dir = fs::temp_directory_path() / ("kinora_clip_" + tag + "_" + std::to_string(rd()));
    fs::create_directories(dir);
    return dir;
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
}

}  // namespace

TEST_CASE("CLIPTokenizer: matches open_clip.tokenize on the golden prompts, both vocabulary forms", "[tokenizers]") {
    const auto gc = test_support::GoldenCase::load("clip_tokenizer");
    const auto prompts = gc.meta().at("prompts").get<std::vector<std::string>>();
    const auto& ctx = gc.meta().at("context_length");
    const int64_t context_length = ctx.is_number() ? ctx.get<int64_t>() : std::stoll(ctx.get<std::string>());
    const at::Tensor expected = gc.io("tokens");  // [B, 77] int64
    REQUIRE(expected.size(0) == static_cast<int64_t>(prompts.size()));
    REQUIRE(expected.size(1) == context_length);

    const auto form = GENERATE(VocabForm::OpenClipGz, VocabForm::HuggingFace, VocabForm::Folder);
    CAPTURE(static_cast<int>(form));
    auto tok = load_form(gc, form);
    if (form == VocabForm::OpenClipGz && !engine::tokenizers::has_gzip_support()) {
        REQUIRE_FALSE(tok.has_value());
        CHECK(tok.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(tok.error().message, Catch::Matchers::Contains("zlib"));
        WARN("built without zlib: checked the error for the .gz vocabulary only");
        return;
    }
    REQUIRE(tok.has_value());
    CHECK(tok->sot_id() == 49406);  // golden README: SOT 49406, EOT 49407
    CHECK(tok->eot_id() == 49407);
    CHECK(tok->vocab_size() == 49408);

    auto batch = tok->tokenize(prompts, context_length);
    REQUIRE(batch.has_value());
    REQUIRE(batch->batch_size == expected.size(0));
    int mismatches = 0;
    for (int64_t b = 0; b < batch->batch_size; ++b) {
        const auto row = batch->row(b);
        const int64_t* e = expected[b].data_ptr<int64_t>();
        const std::vector<int64_t> expected_row(e, e + context_length);
        CAPTURE(b, prompts[static_cast<size_t>(b)], row, expected_row);
        CHECK(row == expected_row);
        mismatches += row == expected_row ? 0 : 1;
        // the mask covers SOT..EOT
        int64_t n = 0;
        while (n < context_length && expected_row[static_cast<size_t>(n)] != 0) {
            ++n;
        }
        CHECK(batch->lengths()[static_cast<size_t>(b)] == n);
    }
    CHECK(mismatches == 0);
}

TEST_CASE("CLIPTokenizer: the two vocabulary forms are the same tokenizer", "[tokenizers]") {
    if (!engine::tokenizers::has_gzip_support()) {
        WARN("built without zlib: nothing to compare");
        return;
    }
    const auto gc = test_support::GoldenCase::load("clip_tokenizer");
    auto a = load_form(gc, VocabForm::OpenClipGz);
    auto b = load_form(gc, VocabForm::HuggingFace);
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK(a->vocab_size() == b->vocab_size());
    CHECK(a->num_merges() == b->num_merges());
    const std::string text =
        "Ein Fuchs springt über den Zaun; le renard saute par-dessus la clôture. Лиса прыгает через забор! "
        "狐狸跳过篱笆。 \xF0\x9F\xA6\x8A\xF0\x9F\x8C\xB2 #hashtag @user 1,234.56 %%% don't WON'T y'all";
    auto ia = a->encode(text);
    auto ib = b->encode(text);
    REQUIRE(ia.has_value());
    REQUIRE(ib.has_value());
    CHECK(ia.value() == ib.value());
}

TEST_CASE("CLIPTokenizer: truncation keeps EOT last, decode inverts simple text", "[tokenizers]") {
    const auto gc = test_support::GoldenCase::load("clip_tokenizer");
    auto tok = load_form(gc, VocabForm::HuggingFace);
    REQUIRE(tok.has_value());
    auto ids = tok->encode("a photo of a cat sitting on the mat");
    REQUIRE(ids.has_value());
    const auto n = static_cast<int64_t>(ids->size());

    auto cut = tok->tokenize({"a photo of a cat sitting on the mat"}, n);  // room for n - 1 text tokens
    REQUIRE(cut.has_value());
    const auto row = cut->row(0);
    CHECK(row.front() == tok->sot_id());
    CHECK(row.back() == tok->eot_id());
    CHECK(std::vector<int64_t>(row.begin() + 1, row.end() - 1) ==
          std::vector<int64_t>(ids->begin(), ids->begin() + (n - 2)));

    CHECK(tok->decode(ids.value()) == "a photo of a cat sitting on the mat ");  // "</w>" -> " " per word

    auto too_short = tok->tokenize({"x"}, 1);
    REQUIRE_FALSE(too_short.has_value());
    CHECK(too_short.error().code == ErrorCode::InvalidRequest);

    auto bad_utf8 = tok->encode("caf\xC3");
    REQUIRE_FALSE(bad_utf8.has_value());
    CHECK(bad_utf8.error().code == ErrorCode::InvalidRequest);
}

TEST_CASE("CLIPTokenizer: missing or broken vocabularies give clear errors", "[tokenizers]") {
    const auto gc = test_support::GoldenCase::load("clip_tokenizer");
    const fs::path dir = make_temp_dir("bad");

    auto missing = CLIPTokenizer::load((dir / "nothing_here").string());
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == ErrorCode::ModelNotFound);

    auto empty_folder = CLIPTokenizer::load(dir.string());
    REQUIRE_FALSE(empty_folder.has_value());
    CHECK(empty_folder.error().code == ErrorCode::ModelNotFound);
    CHECK_THAT(empty_folder.error().message, Catch::Matchers::Contains("vocab.json"));

    write_file(dir / "merges.txt", "#version: 0.2\nthis line has three\n");
    write_file(dir / "vocab.json", read_all(gc.file("vocab.json")));
    auto bad_merges = CLIPTokenizer::load(dir.string());
    REQUIRE_FALSE(bad_merges.has_value());
    CHECK(bad_merges.error().code == ErrorCode::ModelLoadFailed);
    CHECK_THAT(bad_merges.error().message, Catch::Matchers::Contains("merges.txt"));

    write_file(dir / "merges.txt", read_all(gc.file("merges.txt")));
    write_file(dir / "vocab.json", "{\"a\": 0, ");
    auto bad_json = CLIPTokenizer::load(dir.string());
    REQUIRE_FALSE(bad_json.has_value());
    CHECK(bad_json.error().code == ErrorCode::ModelLoadFailed);

    write_file(dir / "vocab.json", "{\"a\": 0}");
    auto small_vocab = CLIPTokenizer::load(dir.string());
    REQUIRE_FALSE(small_vocab.has_value());
    CHECK(small_vocab.error().code == ErrorCode::ModelLoadFailed);

    if (engine::tokenizers::has_gzip_support()) {
        const std::string gz = read_all(gc.file("bpe_simple_vocab_16e6.txt.gz"));
        write_file(dir / "truncated.txt.gz", gz.substr(0, gz.size() / 2));
        auto truncated = CLIPTokenizer::load((dir / "truncated.txt.gz").string());
        REQUIRE_FALSE(truncated.has_value());
        CHECK(truncated.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(truncated.error().message, Catch::Matchers::Contains("gzip"));
        write_file(dir / "plain.txt.gz", "not gzip at all");
        auto plain = CLIPTokenizer::load((dir / "plain.txt.gz").string());
        REQUIRE_FALSE(plain.has_value());
        CHECK(plain.error().code == ErrorCode::ModelLoadFailed);
    }
    fs::remove_all(dir);
}
