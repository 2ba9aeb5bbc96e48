// Gemma-2 text encoder (transformers Gemma2Model) against the goldens, plus config, loading and input errors.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/engine_error.h"
#include "core/json.h"
#include "io/safetensors.h"
#include "models/text_encoders/gemma2_model.h"
#include "support/golden_case.h"
#include "support/tensor_checks.h"

namespace fs = std::filesystem;
using engine::ErrorCode;
using engine::models::Gemma2Config;
using engine::models::Gemma2LayerType;
using engine::models::Gemma2Model;

namespace {

Gemma2Model load_model(const fs::path& dir, at::ScalarType dtype = at::kFloat) {
    auto m = engine::models::load_gemma2_model(dir.string(), {dtype, at::kCPU});
    INFO((m ? std::string() : m.error().message));
    REQUIRE(m.has_value());
    return m.value();
}

// A fresh folder under the system temp dir, removed when the test ends.
struct TempDir {
    TempDir() {
        static std::atomic<int> counter{0};
        path = fs::temp_directory_path() /
               ("kinora_gemma2_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    fs::path path;
};

// Writes float32 tensors as a .safetensors file (8-byte header length, JSON header, data).
void write_safetensors(const fs::path& file, const engine::io::TensorMap& tensors) {
    nlohmann::json header = nlohmann::json::object();
    std::vector<at::Tensor> data;
    std::uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        at::Tensor c = t.to(at::kFloat).contiguous();
        const std::uint64_t bytes = static_cast<std::uint64_t>(c.numel()) * sizeof(float);
        header[name] = {{"dtype", "F32"}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
        data.push_back(c);
    }
    const std::string text = header.dump();
    std::ofstream out(file, std::ios::binary);
    const std::uint64_t n = text.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& c : data) {
        out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * sizeof(float)));
    }
    REQUIRE(out.good());
}

engine::io::TensorMap read_weights(const fs::path& file) {
    auto w = engine::io::load_safetensors(file.string());
    REQUIRE(w.has_value());
    return w.value();
}

std::vector<std::string> layer_type_names(const Gemma2Config& c) {
    std::vector<std::string> out;
    for (auto t : c.layer_types) out.emplace_back(engine::models::to_string(t));
    return out;
}

nlohmann::json tiny_config_json() {
    return test_support::GoldenCase::load("gemma2_tiny").config();
}

engine::Error config_error(const nlohmann::json& j) {
    auto c = Gemma2Config::from_json(j);
    REQUIRE_FALSE(c.has_value());
    return c.error();
}

// Runs f and returns the EngineError it throws (fails the test if it throws nothing or something else).
template <typename F>
engine::core::EngineError engine_error_of(F&& f) {
    try {
        f();
    } catch (const engine::core::EngineError& e) {
        return e;
    } catch (const std::exception& e) {
        FAIL("expected an EngineError, got: " << e.what());
    }
    FAIL("expected an EngineError, nothing was thrown");
    return engine::core::EngineError(ErrorCode::None, "");
}

}  // namespace

TEST_CASE("gemma2: matches transformers Gemma2Model on gemma2_tiny (GQA, sliding window, soft-cap, padding)",
          "[models]") {
    auto gc = test_support::GoldenCase::load("gemma2_tiny");
    Gemma2Model model = load_model(gc.dir());
    CHECK(layer_type_names(model->config) == gc.config()["layer_types"].get<std::vector<std::string>>());
    const at::Tensor ids = gc.io("input_ids");
    const at::Tensor mask = gc.io("attention_mask");
    // The case is only meaningful if it pads and is longer than the window.
    REQUIRE(mask.eq(0).any().item<bool>());
    REQUIRE(ids.size(1) > *model->config.sliding_window);

    at::NoGradGuard no_grad;
    const auto out = model->forward_with_hidden_state(ids, mask, 1);
    REQUIRE_MAXDIFF_REL(out.hidden_state, gc.io("hidden_state_1"), 1e-4);
    REQUIRE_MAXDIFF_REL(out.last_hidden_state, gc.io("last_hidden_state"), 1e-4);
    CHECK(out.last_hidden_state.scalar_type() == at::kFloat);
    // forward() is the same computation.
    CHECK(model->forward(ids, mask).equal(out.last_hidden_state));
}

TEST_CASE("gemma2: right padding leaves the real tokens' states unchanged", "[models]") {
    // The golden's second row is padded; its real prefix alone (no mask) must give the same states there.
    auto gc = test_support::GoldenCase::load("gemma2_tiny");
    Gemma2Model model = load_model(gc.dir());
    const at::Tensor mask = gc.io("attention_mask");
    const std::int64_t n = mask[1].sum().item<std::int64_t>();
    REQUIRE(n < mask.size(1));
    at::NoGradGuard no_grad;
    const at::Tensor prefix = gc.io("input_ids").slice(0, 1, 2).slice(1, 0, n);  // [1, n]
    const at::Tensor out = model->forward(prefix, {});
    REQUIRE_MAXDIFF_REL(out, gc.io("last_hidden_state").slice(0, 1, 2).slice(1, 0, n), 1e-4);
}

TEST_CASE("gemma2: bfloat16 model runs and stays near the float32 golden", "[models]") {
    auto gc = test_support::GoldenCase::load("gemma2_tiny");
    Gemma2Model model = load_model(gc.dir(), at::kBFloat16);
    CHECK(model->options().dtype().toScalarType() == at::kBFloat16);
    at::NoGradGuard no_grad;
    const at::Tensor out = model->forward(gc.io("input_ids"), gc.io("attention_mask"));
    CHECK(out.scalar_type() == at::kBFloat16);
    REQUIRE(out.isfinite().all().item<bool>());
    // bf16 keeps 8 significant bits (relative step 2^-8 ≈ 4e-3) and rounds after every op of 4 layers;
    // 5e-2 of max(1, max|ref|) is ~12 such steps: loose enough for rounding, far below a wrong-math error.
    REQUIRE_MAXDIFF_REL(out, gc.io("last_hidden_state"), 5e-2);
}

TEST_CASE("gemma2: sana_pipeline_tiny text encoder loads strictly and reproduces the negative prompt embeds",
          "[models]") {
    auto gc = test_support::GoldenCase::load("sana_pipeline_tiny");
    const fs::path dir = gc.dir() / "text_encoder";
    Gemma2Model model = load_model(dir);
    const nlohmann::json cfg = gc.config("text_encoder/config.json");
    CHECK(model->config.hidden_size == cfg.at("hidden_size").get<std::int64_t>());
    CHECK(model->config.num_hidden_layers == cfg.at("num_hidden_layers").get<std::int64_t>());

    // The negative prompt "" tokenises to <bos> followed by <pad> up to 300 (SanaPipeline: no CHI, right
    // padding); the mask in the golden marks exactly that first token.
    const at::Tensor mask = gc.io("negative_prompt_attention_mask");  // [1, 300]
    REQUIRE(mask[0][0].item<std::int64_t>() == 1);
    REQUIRE(mask.sum().item<std::int64_t>() == 1);
    at::Tensor ids = at::full(mask.sizes(), cfg.at("pad_token_id").get<std::int64_t>(), at::kLong);
    ids[0][0] = cfg.at("bos_token_id").get<std::int64_t>();
    at::NoGradGuard no_grad;
    REQUIRE_MAXDIFF_REL(model->forward(ids, mask), gc.io("negative_prompt_embeds"), 1e-4);
}

TEST_CASE("gemma2: loads sharded checkpoints and the Gemma2ForCausalLM layout", "[models]") {
    auto gc = test_support::GoldenCase::load("gemma2_tiny");
    const engine::io::TensorMap weights = read_weights(gc.file("model.safetensors"));
    TempDir tmp;

    SECTION("model.safetensors.index.json with two shards") {
        engine::io::TensorMap shard1, shard2;
        nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
        std::size_t i = 0;
        for (const auto& [name, t] : weights) {
            const bool first = i++ < weights.size() / 2;
            (first ? shard1 : shard2).emplace(name, t);
            index["weight_map"][name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        }
        write_safetensors(tmp.path / "model-00001-of-00002.safetensors", shard1);
        write_safetensors(tmp.path / "model-00002-of-00002.safetensors", shard2);
        std::ofstream(tmp.path / "model.safetensors.index.json") << index.dump(2);
    }
    SECTION("Gemma2ForCausalLM: decoder under model., tied lm_head") {
        engine::io::TensorMap prefixed;
        for (const auto& [name, t] : weights) prefixed.emplace("model." + name, t);
        prefixed.emplace("lm_head.weight", weights.at("embed_tokens.weight"));
        write_safetensors(tmp.path / "model.safetensors", prefixed);
    }
    fs::copy_file(gc.file("config.json"), tmp.path / "config.json");
    Gemma2Model model = load_model(tmp.path);
    at::NoGradGuard no_grad;
    REQUIRE_MAXDIFF_REL(model->forward(gc.io("input_ids"), gc.io("attention_mask")), gc.io("last_hidden_state"), 1e-4);
}

TEST_CASE("gemma2: config parsing follows transformers (v4 and v5 layouts, defaults, ignored keys)", "[models]") {
    nlohmann::json j = tiny_config_json();
    auto c = Gemma2Config::from_json(j);
    REQUIRE(c.has_value());
    CHECK(c->vocab_size == j["vocab_size"].get<std::int64_t>());
    CHECK(c->head_dim == j["head_dim"].get<std::int64_t>());
    CHECK(c->num_key_value_heads == j["num_key_value_heads"].get<std::int64_t>());
    CHECK(c->query_pre_attn_scalar == j["query_pre_attn_scalar"].get<double>());
    CHECK(c->attn_logit_softcapping == j["attn_logit_softcapping"].get<double>());
    CHECK(c->sliding_window == j["sliding_window"].get<std::int64_t>());
    CHECK(c->rope_theta == j["rope_parameters"]["rope_theta"].get<double>());
    CHECK(c->rms_norm_eps == j["rms_norm_eps"].get<double>());

    SECTION("v4 layout: rope_theta at the top, no layer_types (even layers slide), harmless extra keys") {
        j.erase("rope_parameters");
        j.erase("layer_types");
        j["rope_theta"] = 5000.0;
        j["rope_scaling"] = nullptr;
        j["hidden_act"] = "gelu_pytorch_tanh";
        j["cache_implementation"] = "hybrid";
        j["torch_dtype"] = "bfloat16";
        j["some_future_key"] = {{"nested", 1}};
        auto v4 = Gemma2Config::from_json(j);
        INFO((v4 ? std::string() : v4.error().message));
        REQUIRE(v4.has_value());
        CHECK(v4->rope_theta == 5000.0);
        CHECK(layer_type_names(*v4) ==
              std::vector<std::string>{"sliding_attention", "full_attention", "sliding_attention", "full_attention"});
    }
    SECTION("null soft-capping turns it off; transformers defaults fill absent optional keys") {
        j["attn_logit_softcapping"] = nullptr;
        j.erase("query_pre_attn_scalar");
        j.erase("rms_norm_eps");
        auto d = Gemma2Config::from_json(j);
        REQUIRE(d.has_value());
        CHECK_FALSE(d->attn_logit_softcapping.has_value());
        CHECK(d->query_pre_attn_scalar == 256.0);
        CHECK(d->rms_norm_eps == 1e-6);
    }
    CHECK(std::string(engine::models::to_string(Gemma2LayerType::SlidingAttention)) == "sliding_attention");
    CHECK(engine::models::gemma2_layer_type_from_string("full_attention") == Gemma2LayerType::FullAttention);
    CHECK(engine::models::gemma2_layer_type_from_string("chunked_attention") == Gemma2LayerType::None);
}

TEST_CASE("gemma2: bad configs are rejected with the key named", "[models]") {
    nlohmann::json j = tiny_config_json();
    struct Case {
        const char* what;
        std::function<void(nlohmann::json&)> edit;
        ErrorCode code;
        const char* message_part;
    };
    const std::vector<Case> cases = {
        {"missing hidden_size", [](auto& c) { c.erase("hidden_size"); }, ErrorCode::ModelLoadFailed, "hidden_size"},
        {"non-integer head_dim", [](auto& c) { c["head_dim"] = "16"; }, ErrorCode::ModelLoadFailed, "head_dim"},
        {"heads not a multiple of kv heads", [](auto& c) { c["num_key_value_heads"] = 3; }, ErrorCode::ModelLoadFailed,
         "num_key_value_heads"},
        {"layer_types of the wrong length", [](auto& c) { c["layer_types"].erase(0); }, ErrorCode::ModelLoadFailed,
         "layer_types"},
        {"unknown layer type", [](auto& c) { c["layer_types"][0] = "chunked_attention"; }, ErrorCode::UnsupportedModel,
         "chunked_attention"},
        {"another model type", [](auto& c) { c["model_type"] = "gemma3_text"; }, ErrorCode::UnsupportedModel,
         "gemma3_text"},
        {"scaled RoPE (v5)",
         [](auto& c) {
             c["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 2.0}};
         },
         ErrorCode::UnsupportedModel, "linear"},
        {"scaled RoPE (v4)",
         [](auto& c) {
             c["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
         },
         ErrorCode::UnsupportedModel, "dynamic"},
        {"bidirectional attention", [](auto& c) { c["use_bidirectional_attention"] = true; },
         ErrorCode::UnsupportedModel, "use_bidirectional_attention"},
        {"attention bias", [](auto& c) { c["attention_bias"] = true; }, ErrorCode::UnsupportedModel, "attention_bias"},
        {"another activation", [](auto& c) { c["hidden_activation"] = "relu"; }, ErrorCode::UnsupportedModel, "relu"},
        {"quantized weights",
         [](auto& c) {
             c["quantization_config"] = {{"quant_method", "bitsandbytes"}};
         },
         ErrorCode::UnsupportedModel, "quantization_config"},
        {"sliding layers without a window", [](auto& c) { c["sliding_window"] = nullptr; }, ErrorCode::ModelLoadFailed,
         "sliding_window"},
        {"not an object", [](auto& c) { c = nlohmann::json::array(); }, ErrorCode::ModelLoadFailed, "object"},
    };
    for (const auto& tc : cases) {
        CAPTURE(tc.what);
        nlohmann::json bad = j;
        tc.edit(bad);
        const engine::Error e = config_error(bad);
        CAPTURE(e.message);
        CHECK(e.code == tc.code);
        CHECK_THAT(e.message, Catch::Contains(tc.message_part) && Catch::Contains("Gemma-2 config"));
    }

    // Through the loader, the message also names the file.
    TempDir tmp;
    nlohmann::json bad = j;
    bad.erase("hidden_size");
    std::ofstream(tmp.path / "config.json") << bad.dump();
    auto m = engine::models::load_gemma2_model(tmp.path.string());
    REQUIRE_FALSE(m.has_value());
    CHECK(m.error().code == ErrorCode::ModelLoadFailed);
    CHECK_THAT(m.error().message, Catch::Contains("config.json") && Catch::Contains("hidden_size"));

    auto missing = engine::models::load_gemma2_model((tmp.path / "no_such_folder").string());
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == ErrorCode::ModelNotFound);
}

TEST_CASE("gemma2: weights of another model fail strict loading, naming the keys", "[models]") {
    auto gc = test_support::GoldenCase::load("gemma2_tiny");
    TempDir tmp;
    fs::copy_file(gc.file("config.json"), tmp.path / "config.json");

    SECTION("a DC-AE checkpoint") {
        auto dcae = test_support::GoldenCase::load("dcae_tiny");
        fs::create_symlink(dcae.file("diffusion_pytorch_model.safetensors"), tmp.path / "model.safetensors");
        auto m = engine::models::load_gemma2_model(tmp.path.string());
        REQUIRE_FALSE(m.has_value());
        CHECK(m.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(m.error().message,
                   Catch::Contains("Gemma-2 text encoder") && Catch::Contains("missing from the checkpoint") &&
                       Catch::Contains("embed_tokens.weight") && Catch::Contains("unexpected in the checkpoint"));
    }
    SECTION("a Gemma-2 of another size") {
        fs::create_symlink(test_support::GoldenCase::load("sana_pipeline_tiny").file("text_encoder/model.safetensors"),
                           tmp.path / "model.safetensors");
        auto m = engine::models::load_gemma2_model(tmp.path.string());
        REQUIRE_FALSE(m.has_value());
        CHECK(m.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(m.error().message, Catch::Contains("embed_tokens.weight: checkpoint [512, 24] vs model [512, 64]"));
    }
    SECTION("no weights at all") {
        auto m = engine::models::load_gemma2_model(tmp.path.string());
        REQUIRE_FALSE(m.has_value());
        CHECK(m.error().code == ErrorCode::ModelNotFound);
        CHECK_THAT(m.error().message, Catch::Contains("model.safetensors"));
    }
}

TEST_CASE("gemma2: bad inputs are InvalidRequest errors, not crashes", "[models]") {
    auto gc = test_support::GoldenCase::load("gemma2_tiny");
    Gemma2Model model = load_model(gc.dir());
    const std::int64_t vocab = model->config.vocab_size;
    const at::Tensor ids = gc.io("input_ids");
    const at::Tensor mask = gc.io("attention_mask");
    at::NoGradGuard no_grad;

    auto expect_invalid = [&](const at::Tensor& i, const at::Tensor& m, const char* part) {
        const auto e = engine_error_of([&] { model->forward(i, m); });
        CAPTURE(e.what());
        CHECK(e.code() == ErrorCode::InvalidRequest);
        CHECK_THAT(std::string(e.what()), Catch::Contains(part));
        // The checks alone (what the Sana pipeline runs on its CPU token ids before a graphed forward) say the same.
        const auto c = engine_error_of([&] { model->check_inputs(i, m); });
        CHECK(c.code() == ErrorCode::InvalidRequest);
        CHECK(std::string(c.what()) == std::string(e.what()));
    };
    at::Tensor too_big = ids.clone();
    too_big[1][3] = vocab;
    expect_invalid(too_big, mask, "outside the vocabulary");
    at::Tensor negative = ids.clone();
    negative[0][0] = -1;
    expect_invalid(negative, mask, "outside the vocabulary");
    expect_invalid(ids.to(at::kFloat), mask, "integer token ids");
    expect_invalid(ids[0], mask[0], "[batch, length]");
    expect_invalid(ids, mask.slice(1, 0, 5), "does not match");
    expect_invalid(ids, mask * 2, "only 0");
    const auto e = engine_error_of([&] { model->forward_with_hidden_state(ids, mask, 5); });
    CHECK(e.code() == ErrorCode::InvalidRequest);
    // int32 ids and a bool mask are fine.
    CHECK(model->forward(ids.to(at::kInt), mask.to(at::kBool)).equal(model->forward(ids, mask)));
    model->check_inputs(ids, mask);  // no throw
    // forward() is check_inputs() then forward_checked() on int64 ids and a bool token mask.
    CHECK(model->forward_checked(ids, mask.to(at::kBool)).equal(model->forward(ids, mask)));
    CHECK(model->forward_checked(ids, at::Tensor()).equal(model->forward(ids)));
}
