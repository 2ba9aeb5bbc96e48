// Gemma tokenizer against transformers' GemmaTokenizer output in the gemma_tokenizer golden, plus the bridge's
// error paths. The tokenizer tests run with whatever GemmaTokenizer::load picks: sentencepiece through the
// dlopen()ed bridge, or the built-in BPE encoder in builds without it (test_tokenizers_gemma_builtin.cpp
// compares the two).
#include <link.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/json.h"
#include "support/golden_case.h"
#include "tokenizers/gemma_tokenizer.h"
#include "tokenizers/spm_library.h"

namespace fs = std::filesystem;
using engine::ErrorCode;
using engine::tokenizers::GemmaTokenizer;
using engine::tokenizers::SpmLibrary;
using engine::tokenizers::SpmModel;
using engine::tokenizers::Truncation;

namespace {

std::vector<std::string> loaded_objects() {
    std::vector<std::string> names;
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) {
            static_cast<std::vector<std::string>*>(data)->emplace_back(info->dlpi_name != nullptr ? info->dlpi_name
                                                                                                  : "");
            return 0;
        },
        &names);
    return names;
}

bool is_loaded(const std::string& fragment) {
    for (const auto& n : loaded_objects()) {
        if (n.find(fragment) != std::string::npos) {
            return true;
        }
    }
    return false;
}

fs::path make_temp_dir(const std::string& tag) {
    std::random_device rd;
    const fs::path dir = fs::temp_directory_path() / ("kinora_tok_" + tag + "_" + std::to_string(rd()));
    fs::create_directories(dir);
    return dir;
}

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
}

// When the build has no sentencepiece, every bridge load must fail with the clear message, and that is
// what the test then checks.
bool bridge_expected() {
    if (engine::tokenizers::built_with_sentencepiece()) {
        return true;
    }
    auto model = SpmModel::load((test_support::golden_dir() / "tiny_gemma_spm.model").string());
    REQUIRE_FALSE(model.has_value());
    CHECK(model.error().code == ErrorCode::UnsupportedModel);
    CHECK_THAT(model.error().message, Catch::Matchers::Contains("KINORA_WITH_SENTENCEPIECE"));
    WARN("built without sentencepiece: checked the error path only");
    return false;
}

void check_against_golden(const GemmaTokenizer& tok) {
    const auto gc = test_support::GoldenCase::load("gemma_tokenizer");
    const auto prompts = gc.meta().at("prompts").get<std::vector<std::string>>();
    const at::Tensor expected_ids = gc.io("input_ids");  // [B, L] int64
    const at::Tensor expected_lengths = gc.io("lengths");
    REQUIRE(expected_ids.size(0) == static_cast<int64_t>(prompts.size()));
    REQUIRE(gc.meta().at("add_bos").get<bool>());
    const int64_t max_length = expected_ids.size(1);

    auto batch = tok.encode_padded(prompts, max_length, Truncation::Right);
    REQUIRE(batch.has_value());
    REQUIRE(batch->batch_size == expected_ids.size(0));
    REQUIRE(batch->sequence_length == max_length);
    const auto lengths = batch->lengths();
    int mismatches = 0;
    for (int64_t b = 0; b < batch->batch_size; ++b) {
        const auto row = batch->row(b);
        std::vector<int64_t> expected(expected_ids[b].data_ptr<int64_t>(),
                                      expected_ids[b].data_ptr<int64_t>() + max_length);
        CAPTURE(b, prompts[static_cast<size_t>(b)], row, expected);
        CHECK(row == expected);
        CHECK(lengths[static_cast<size_t>(b)] == expected_lengths[b].item<int64_t>());
        mismatches += row == expected ? 0 : 1;
    }
    CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("GemmaTokenizer: the tiny .model matches transformers' GemmaTokenizer on the golden prompts",
          "[tokenizers]") {
    auto tok = GemmaTokenizer::load((test_support::golden_dir() / "tiny_gemma_spm.model").string());
    REQUIRE(tok.has_value());
    CHECK(tok->bos_id() == 2);  // the model's own <bos> piece (sana.md §5.4 ids)
    CHECK(tok->pad_id() == 0);
    check_against_golden(tok.value());
}

TEST_CASE("GemmaTokenizer: a diffusers tokenizer/ folder gives the golden ids too", "[tokenizers]") {
    const auto folder = test_support::golden_dir() / "sana_pipeline_tiny" / "tokenizer";
    auto tok = GemmaTokenizer::load(folder.string());
    REQUIRE(tok.has_value());
    check_against_golden(tok.value());

    SECTION("special ids come from tokenizer_config.json / tokenizer.json") {
        auto json = engine::core::read_json_file((folder / "tokenizer.json").string());
        REQUIRE(json.has_value());
        int64_t bos = -1, pad = -1, mask = -1;
        for (const auto& t : (*json)["added_tokens"]) {
            const auto content = t["content"].get<std::string>();
            if (content == "<bos>") bos = t["id"].get<int64_t>();
            if (content == "<pad>") pad = t["id"].get<int64_t>();
            if (content == "<mask>") mask = t["id"].get<int64_t>();
        }
        CHECK(tok->bos_id() == bos);
        CHECK(tok->pad_id() == pad);
        // Like the Hugging Face tokenizer, a literal added token in the text is one id.
        auto ids = tok->encode("a <mask> cat");
        REQUIRE(ids.has_value());
        CHECK(std::count(ids->begin(), ids->end(), mask) == 1);
        auto left = tok->encode_pieces("a ");
        auto right = tok->encode_pieces(" cat");
        REQUIRE(left.has_value());
        REQUIRE(right.has_value());
        std::vector<int32_t> expected{static_cast<int32_t>(bos)};
        expected.insert(expected.end(), left->begin(), left->end());
        expected.push_back(static_cast<int32_t>(mask));
        expected.insert(expected.end(), right->begin(), right->end());
        CHECK(ids.value() == expected);
    }
}

TEST_CASE("GemmaTokenizer: encode adds <bos> only, decode inverts, truncation rules", "[tokenizers]") {
    auto tok = GemmaTokenizer::load((test_support::golden_dir() / "sana_pipeline_tiny" / "tokenizer").string());
    REQUIRE(tok.has_value());
    const std::string text = "Hello world  caf\xC3\xA9 \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x99\x82 -> enhanced!";
    auto with = tok->encode(text);
    auto without = tok->encode_pieces(text);
    REQUIRE(with.has_value());
    REQUIRE(without.has_value());
    REQUIRE(with->size() == without->size() + 1);
    CHECK(with->front() == tok->bos_id());
    CHECK(std::vector<int32_t>(with->begin() + 1, with->end()) == without.value());
    CHECK(std::find(with->begin(), with->end(), tok->eos_id()) == with->end());

    auto decoded = tok->decode(with.value());
    REQUIRE(decoded.has_value());
    CHECK(decoded.value() == text);  // identity normaliser + byte fallback: lossless

    const auto n = static_cast<int64_t>(with->size());
    SECTION("Right keeps the first max_length ids") {
        auto batch = tok->encode_padded({text}, n - 3, Truncation::Right);
        REQUIRE(batch.has_value());
        CHECK(batch->row(0) == std::vector<int64_t>(with->begin(), with->begin() + (n - 3)));
        CHECK(batch->lengths()[0] == n - 3);
    }
    SECTION("Disabled refuses a prompt that does not fit") {
        auto batch = tok->encode_padded({text}, n - 1, Truncation::Disabled);
        REQUIRE_FALSE(batch.has_value());
        CHECK(batch.error().code == ErrorCode::InvalidRequest);
        auto fits = tok->encode_padded({text}, n, Truncation::Disabled);
        REQUIRE(fits.has_value());
        CHECK(fits->lengths()[0] == n);
    }
    SECTION("padding is on the right with the pad id, mask 0 there") {
        auto batch = tok->encode_padded({text, ""}, n + 4, Truncation::Right);
        REQUIRE(batch.has_value());
        const auto row = batch->row(0);
        for (int64_t t = n; t < n + 4; ++t) {
            CHECK(row[static_cast<size_t>(t)] == tok->pad_id());
            CHECK(batch->attention_mask[static_cast<size_t>(t)] == 0);
        }
        CHECK(batch->lengths() == std::vector<int64_t>{n, 1});
    }
    SECTION("max_length without room for the text is an error") {
        auto batch = tok->encode_padded({text}, 0, Truncation::Right);
        REQUIRE_FALSE(batch.has_value());
        CHECK(batch.error().code == ErrorCode::InvalidRequest);
    }
}

TEST_CASE("GemmaTokenizer: the bridge works in a process that has LibTorch (and its protobuf) loaded", "[tokenizers]") {
    // test_engine links LibTorch; Debian's libtorch pulls libprotobuf 3.21, the one that clashes with
    // libsentencepiece's bundled 3.14 unless the bridge is opened RTLD_LOCAL | RTLD_DEEPBIND.
    REQUIRE(is_loaded("libtorch"));
    INFO("libprotobuf loaded before the bridge: " << (is_loaded("libprotobuf") ? "yes" : "no"));
    if (!bridge_expected()) {
        return;
    }
    auto lib = SpmLibrary::open();
    REQUIRE(lib.has_value());
    CHECK(fs::path(lib.value()->path()).filename() == engine::tokenizers::kSpmBridgeFileName);
    auto model = SpmModel::load((test_support::golden_dir() / "tiny_gemma_spm.model").string());
    REQUIRE(model.has_value());
    auto ids = model->encode("a photo of a cat");
    REQUIRE(ids.has_value());
    CHECK_FALSE(ids->empty());
    CHECK(is_loaded("libsentencepiece"));
    CHECK(model->vocab_size() > 0);
    CHECK(model->piece_to_id("<bos>") == model->bos_id());
}

TEST_CASE("GemmaTokenizer: files that are not sentencepiece models give clear errors", "[tokenizers]") {
    const fs::path dir = make_temp_dir("notspm");
    const auto golden = test_support::golden_dir();
    struct Case {
        std::string name;
        std::string bytes;
    };
    std::mt19937 rng(1234);
    std::string random_bytes(4096, '\0');
    for (auto& c : random_bytes) {
        c = static_cast<char>(rng() & 0xFF);
    }
    std::ifstream json_in(golden / "sana_pipeline_tiny" / "tokenizer" / "tokenizer_config.json", std::ios::binary);
    const std::string json_text((std::istreambuf_iterator<char>(json_in)), std::istreambuf_iterator<char>());
    std::ifstream st_in(golden / "gemma_tokenizer" / "io.safetensors", std::ios::binary);
    const std::string safetensors((std::istreambuf_iterator<char>(st_in)), std::istreambuf_iterator<char>());
    std::ifstream spm_in(golden / "tiny_gemma_spm.model", std::ios::binary);
    const std::string spm((std::istreambuf_iterator<char>(spm_in)), std::istreambuf_iterator<char>());
    const std::vector<Case> cases{
        {"empty.model", ""},
        {"json.model", json_text},
        {"random.model", random_bytes},
        {"safetensors.model", safetensors},
        {"truncated.model", spm.substr(0, spm.size() / 2)},
    };
    for (const auto& c : cases) {
        const fs::path p = dir / c.name;
        write_file(p, c.bytes);
        auto tok = GemmaTokenizer::load(p.string());
        CAPTURE(c.name);
        REQUIRE_FALSE(tok.has_value());
        CHECK(tok.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(tok.error().message, Catch::Matchers::Contains(p.string()));
        CHECK_THAT(tok.error().message, Catch::Matchers::Contains("sentencepiece"));
    }

    SECTION("a missing file or a folder without tokenizer.model") {
        auto missing = GemmaTokenizer::load((dir / "nope.model").string());
        REQUIRE_FALSE(missing.has_value());
        CHECK(missing.error().code == ErrorCode::ModelNotFound);
        fs::create_directories(dir / "tokenizer");
        write_file(dir / "tokenizer" / "tokenizer_config.json", json_text);
        auto no_model = GemmaTokenizer::load((dir / "tokenizer").string());
        REQUIRE_FALSE(no_model.has_value());
        CHECK(no_model.error().code == ErrorCode::ModelNotFound);
        CHECK_THAT(no_model.error().message, Catch::Matchers::Contains("tokenizer.model"));
    }
    fs::remove_all(dir);
}

TEST_CASE("SpmLibrary: search order and a bad module", "[tokenizers]") {
    const char* old_env = std::getenv("KINORA_SPM_BRIDGE");
    const std::string saved = old_env != nullptr ? old_env : "";

    SECTION("without KINORA_SPM_BRIDGE: the executable's folder, then ../lib/kinora") {
        unsetenv("KINORA_SPM_BRIDGE");
        const auto paths = SpmLibrary::search_paths();
        const fs::path exe_dir = fs::read_symlink("/proc/self/exe").parent_path();
        REQUIRE(paths.size() == 2);
        CHECK(paths[0] == (exe_dir / engine::tokenizers::kSpmBridgeFileName).string());
        CHECK(paths[1] ==
              (exe_dir / ".." / "lib" / "kinora" / engine::tokenizers::kSpmBridgeFileName).lexically_normal().string());
    }
    SECTION("KINORA_SPM_BRIDGE wins alone; a folder means the module inside it") {
        setenv("KINORA_SPM_BRIDGE", "/opt/somewhere/libbridge.so", 1);
        CHECK(SpmLibrary::search_paths() == std::vector<std::string>{"/opt/somewhere/libbridge.so"});
        const fs::path dir = make_temp_dir("bridge_dir");
        setenv("KINORA_SPM_BRIDGE", dir.c_str(), 1);
        CHECK(SpmLibrary::search_paths() ==
              std::vector<std::string>{(dir / engine::tokenizers::kSpmBridgeFileName).string()});
        fs::remove_all(dir);
    }
    SECTION("a file that is not a shared library, or is absent") {
        const fs::path dir = make_temp_dir("bad_bridge");
        const fs::path fake = dir / engine::tokenizers::kSpmBridgeFileName;
        write_file(fake, "this is not an ELF file");
        auto lib = SpmLibrary::open_at(fake.string());
        REQUIRE_FALSE(lib.has_value());
        CHECK(lib.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(lib.error().message, Catch::Matchers::Contains(fake.string()));
        auto absent = SpmLibrary::open_at((dir / "absent.so").string());
        REQUIRE_FALSE(absent.has_value());
        CHECK_THAT(absent.error().message, Catch::Matchers::Contains("does not exist"));
        fs::remove_all(dir);
    }
    SECTION("a shared library that is not the bridge") {
        // libz is loaded in every test process here; any ELF module without our symbols will do.
        std::string other;
        for (const auto& n : loaded_objects()) {
            if (n.find("libz.so") != std::string::npos || n.find("libm.so") != std::string::npos) {
                other = n;
                break;
            }
        }
        REQUIRE_FALSE(other.empty());
        auto lib = SpmLibrary::open_at(other);
        REQUIRE_FALSE(lib.has_value());
        CHECK_THAT(lib.error().message, Catch::Matchers::Contains("not a Kinora sentencepiece bridge"));
    }
    if (old_env != nullptr) {
        setenv("KINORA_SPM_BRIDGE", saved.c_str(), 1);
    } else {
        unsetenv("KINORA_SPM_BRIDGE");
    }
}
