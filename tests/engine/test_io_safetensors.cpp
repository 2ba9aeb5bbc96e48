// safetensors: the writer (round trips checked by the independent Python reader), sharded sets, format
// detection by content, FP8 decoding against an independent decoder, and bad files.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include "io/checkpoint.h"
#include "io/float8.h"
#include "io/safetensors.h"
#include "io_test_util.h"

using engine::ErrorCode;
namespace eio = engine::io;

namespace {

// A safetensors file from a header JSON text and a data section, byte by byte (for bad files).
std::string raw_safetensors(const std::string& header, const std::string& data) {
    std::string out;
    io_test::put64(out, header.size());
    return out + header + data;
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, std::uint64_t begin,
                  std::uint64_t end) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
           std::to_string(begin) + "," + std::to_string(end) + "]}";
}

eio::TensorMap sample_tensors() {
    at::manual_seed(7);
    eio::TensorMap m;
    m["f64"] = at::randn({3, 2}, at::kDouble);
    m["f32"] = at::randn({4, 5});
    m["f32_view"] = at::randn({5, 4}).t();  // non-contiguous: written row-major
    m["f16"] = at::randn({7}).to(at::kHalf);
    m["bf16"] = at::randn({2, 3, 2}).to(at::kBFloat16);
    m["i64"] = at::arange(-3, 3, at::kLong);
    m["i32"] = at::arange(5, at::kInt) * -7;
    m["i16"] = at::arange(3, at::kShort);
    m["i8"] = at::arange(-4, 4, at::kChar);
    m["u8"] = at::arange(250, 256, at::kLong).to(at::kByte);
    m["bool"] = at::arange(5, at::kLong).remainder(2).to(at::kBool);
    m["scalar"] = at::scalar_tensor(2.5);
    m["empty"] = at::empty({0, 4});
    m["unicode \xc3\xa9"] = at::ones({1});
    return m;
}

}  // namespace

TEST_CASE("save_safetensors: every dtype round-trips and the independent reader agrees", "[io]") {
    io_test::TempDir dir;
    const std::string path = dir.file("out.safetensors");
    const auto tensors = sample_tensors();
    const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "written by a test"}};
    REQUIRE(eio::save_safetensors(path, tensors, metadata).has_value());

    auto f = eio::SafetensorsFile::open(path);
    REQUIRE(f.has_value());
    CHECK(f.value()->metadata() == metadata);
    auto back = f.value()->tensors();
    REQUIRE(back.has_value());
    REQUIRE(back->size() == tensors.size());
    for (const auto& [name, t] : tensors) {
        INFO(name);
        const at::Tensor& b = back->at(name);
        CHECK(b.scalar_type() == t.scalar_type());
        CHECK(b.sizes() == t.sizes());
        CHECK(at::equal(b, t));
        // Offsets are aligned, so every tensor is a view into the mapping, never a copy.
        CHECK(reinterpret_cast<std::uintptr_t>(b.data_ptr()) % b.element_size() == 0);
    }
    const auto manifest = io_test::python_manifest({path}).at(0);
    CHECK(io_test::check_manifest(manifest, tensors) == tensors.size());
    CHECK(manifest.at("metadata").get<std::map<std::string, std::string>>() == metadata);
    // Nothing but the file itself is left behind (the temporary file was renamed).
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
    CHECK(files == 1);
}

TEST_CASE("save_safetensors: overwrites atomically and reports failures", "[io]") {
    io_test::TempDir dir;
    const std::string path = dir.file("w.safetensors");
    REQUIRE(eio::save_safetensors(path, {{"a", at::ones({2})}}).has_value());
    REQUIRE(eio::save_safetensors(path, {{"b", at::zeros({3})}}).has_value());
    auto t = eio::load_safetensors(path);
    REQUIRE(t.has_value());
    CHECK(t->size() == 1);
    CHECK(t->count("b") == 1);

    auto missing_dir = eio::save_safetensors(dir.file("no/such/dir/x.safetensors"), {{"a", at::ones({1})}});
    REQUIRE_FALSE(missing_dir.has_value());
    CHECK(missing_dir.error().code == ErrorCode::IoError);
    CHECK_THAT(missing_dir.error().message, Catch::Contains("no/such/dir/x.safetensors"));

    auto complex = eio::save_safetensors(path, {{"c", at::ones({1}, at::kComplexFloat)}});
    REQUIRE_FALSE(complex.has_value());
    CHECK(complex.error().code == ErrorCode::InvalidRequest);
    CHECK_THAT(complex.error().message, Catch::Contains("'c'"));
    CHECK(eio::load_safetensors(path)->count("b") == 1);  // the old file is untouched
}

TEST_CASE("safetensors: a sharded set written by save_safetensors loads through its index", "[io]") {
    io_test::TempDir dir;
    const auto tensors = sample_tensors();
    eio::TensorMap shard1, shard2;
    nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
    bool first = true;
    for (const auto& [name, t] : tensors) {
        (first ? shard1 : shard2)[name] = t;
        index["weight_map"][name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        first = !first;
    }
    REQUIRE(eio::save_safetensors(dir.file("model-00001-of-00002.safetensors"), shard1).has_value());
    REQUIRE(eio::save_safetensors(dir.file("model-00002-of-00002.safetensors"), shard2).has_value());
    const std::string index_path = dir.file("model.safetensors.index.json");
    io_test::write_file(index_path, index.dump(2));

    CHECK(eio::detect_checkpoint_format(index_path) == eio::CheckpointFormat::SafetensorsIndex);
    for (auto loaded : {eio::load_sharded_safetensors(index_path), eio::load_checkpoint(index_path),
                        eio::load_safetensors_folder(dir.path().string(), {"model"})}) {
        REQUIRE(loaded.has_value());
        REQUIRE(loaded->size() == tensors.size());
        for (const auto& [name, t] : tensors) CHECK(at::equal(loaded->at(name), t));
    }

    SECTION("an index naming a missing shard") {
        std::filesystem::remove(dir.file("model-00002-of-00002.safetensors"));
        auto r = eio::load_checkpoint(index_path);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::ModelNotFound);
        CHECK_THAT(r.error().message, Catch::Contains("model-00002-of-00002.safetensors") &&
                                          Catch::Contains("is missing") && Catch::Contains(index_path));
    }
    SECTION("an index mapping a tensor to a shard without it") {
        index["weight_map"]["ghost"] = "model-00001-of-00002.safetensors";
        io_test::write_file(index_path, index.dump());
        auto r = eio::load_checkpoint(index_path);
        REQUIRE_FALSE(r.has_value());
        CHECK_THAT(r.error().message, Catch::Contains("'ghost'"));
    }
}

TEST_CASE("safetensors: bad files give clear errors", "[io]") {
    io_test::TempDir dir;
    const std::string path = dir.file("bad.safetensors");
    const std::string f32x2 = std::string(8, '\0');
    struct Case {
        const char* what;
        std::string bytes;
        ErrorCode code;
        std::string message;
    };
    std::string huge_len;
    io_test::put64(huge_len, 1000000);
    const std::vector<Case> cases = {
        {"empty", "", ErrorCode::ModelLoadFailed, "shorter than the 8-byte header length"},
        {"truncated", std::string("\x10\x00\x00", 3), ErrorCode::ModelLoadFailed, "3 bytes long"},
        {"header length past the end", huge_len + "{}", ErrorCode::ModelLoadFailed,
         "header length (1000000 bytes) runs past the end"},
        {"malformed JSON", raw_safetensors("{\"a\": {\"dtype\": ", ""), ErrorCode::ModelLoadFailed,
         "header is not valid JSON"},
        {"header not an object", raw_safetensors("[1,2]", ""), ErrorCode::ModelLoadFailed, "not a JSON object"},
        {"unknown dtype", raw_safetensors("{" + entry("w", "F4", "[2]", 0, 1) + "}", "x"), ErrorCode::UnsupportedModel,
         "tensor 'w' has dtype 'F4'"},
        {"offsets past the end", raw_safetensors("{" + entry("w", "F32", "[2]", 0, 8) + "}", "1234"),
         ErrorCode::ModelLoadFailed, "tensor 'w': data_offsets [0, 8) run past the data section (4 bytes)"},
        {"end before begin", raw_safetensors("{" + entry("w", "F32", "[0]", 8, 0) + "}", f32x2),
         ErrorCode::ModelLoadFailed, "tensor 'w': data_offsets end before they begin"},
        {"size differs from shape x dtype", raw_safetensors("{" + entry("w", "F32", "[3]", 0, 8) + "}", f32x2),
         ErrorCode::ModelLoadFailed, "tensor 'w': holds 8 bytes but shape × F32 needs 12"},
        {"negative offsets",
         raw_safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", f32x2),
         ErrorCode::ModelLoadFailed, "data_offsets are negative"},
        {"negative shape", raw_safetensors("{" + entry("w", "F32", "[-1]", 0, 0) + "}", ""), ErrorCode::ModelLoadFailed,
         "negative or non-integer size"},
        {"missing fields", raw_safetensors("{\"w\":{\"dtype\":\"F32\"}}", ""), ErrorCode::ModelLoadFailed,
         "needs dtype, shape and data_offsets"},
        {"overlapping tensors",
         raw_safetensors("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[1]", 4, 8) + "}", f32x2),
         ErrorCode::ModelLoadFailed, "overlap"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        io_test::write_file(path, c.bytes);
        auto r = eio::load_safetensors(path);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == c.code);
        CHECK_THAT(r.error().message, Catch::Contains(c.message) && Catch::Contains(path));
    }

    // Every truncation of a valid file fails cleanly.
    REQUIRE(eio::save_safetensors(path, sample_tensors()).has_value());
    const std::string good = io_test::read_file(path);
    for (std::size_t len = 0; len < good.size(); len += 3) {
        io_test::write_file(path, good.substr(0, len));
        INFO("truncated to " << len << " of " << good.size());
        CHECK_FALSE(eio::load_safetensors(path).has_value());
    }
}

TEST_CASE("load_checkpoint: the reader is picked by content, not by extension", "[io]") {
    io_test::TempDir dir;
    const auto tensors = sample_tensors();
    // A safetensors file named .ckpt.
    const std::string st = dir.file("weights.ckpt");
    REQUIRE(eio::save_safetensors(st, tensors, {{"k", "v"}}).has_value());
    CHECK(eio::detect_checkpoint_format(st) == eio::CheckpointFormat::Safetensors);
    auto c = eio::read_checkpoint(st);
    REQUIRE(c.has_value());
    CHECK(c->format == eio::CheckpointFormat::Safetensors);
    CHECK(c->tensors.size() == tensors.size());
    CHECK(c->metadata.at("k") == "v");
    // A torch checkpoint named .safetensors.
    const std::string pt = dir.file("model.safetensors");
    io_test::run_tool("write_torch_ckpt.py", {pt});
    CHECK(eio::detect_checkpoint_format(pt) == eio::CheckpointFormat::TorchZip);
    auto t = eio::read_checkpoint(pt);
    REQUIRE(t.has_value());
    CHECK(t->format == eio::CheckpointFormat::TorchZip);
    CHECK(t->tensors.size() == 17);
    CHECK(t->metadata.at("epoch") == "3");

    struct Bad {
        const char* what;
        std::string bytes;
        ErrorCode code;
        std::string message;
    };
    const std::vector<Bad> bad = {
        {"empty", "", ErrorCode::ModelLoadFailed, "not a checkpoint: "},
        {"html", "<!DOCTYPE html><html><body>Not found</body></html>", ErrorCode::ModelLoadFailed, "HTML page"},
        {"git lfs pointer", "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 7400000000\n",
         ErrorCode::ModelLoadFailed, "Git LFS pointer"},
        {"random bytes", std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09", 9), ErrorCode::ModelLoadFailed,
         "begins with bytes 01 02 03 04 05 06 07 08"},
        {"config.json", "{\"_class_name\": \"UNet\"}", ErrorCode::ModelLoadFailed, "not a checkpoint: "},
        {"gguf", std::string("GGUF\x03\x00\x00\x00", 8), ErrorCode::UnsupportedModel, "GGUF"},
        {"legacy torch", std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14),
         ErrorCode::UnsupportedModel, "legacy format"},
    };
    const std::string path = dir.file("thing.bin");
    for (const auto& b : bad) {
        INFO(b.what);
        io_test::write_file(path, b.bytes);
        auto r = eio::load_checkpoint(path);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == b.code);
        CHECK_THAT(r.error().message, Catch::Contains(b.message) && Catch::Contains(path));
    }
    auto missing = eio::load_checkpoint(dir.file("nope.ckpt"));
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == ErrorCode::ModelNotFound);
    auto folder = eio::load_checkpoint(dir.path().string());
    REQUIRE_FALSE(folder.has_value());
    CHECK_THAT(folder.error().message, Catch::Contains("is a folder"));
}

TEST_CASE("float8: e4m3fn and e5m2 decoding matches an independent decoder for all 256 codes", "[io]") {
    // golden_manifest.py builds each value's float32 bit pattern itself (no shared formula with float8.cpp).
    const auto table = nlohmann::json::parse(io_test::run_tool("golden_manifest.py", {"fp8"}));
    std::size_t nan = 0;
    for (const auto& [kind, name] :
         {std::pair{eio::Float8Kind::E4M3, "F8_E4M3"}, std::pair{eio::Float8Kind::E5M2, "F8_E5M2"}}) {
        for (int code = 0; code < 256; ++code) {
            const float ours = eio::float8_to_float(static_cast<std::uint8_t>(code), kind);
            const auto& expected = table.at(name).at(code);
            INFO(name << " code " << code << ": ours " << ours << ", expected " << expected.dump());
            if (expected.is_string()) {
                const std::string s = expected.get<std::string>();
                if (s == "nan") {
                    CHECK(std::isnan(ours));
                    ++nan;
                } else {
                    CHECK(std::isinf(ours));
                    CHECK((ours > 0) == (s == "inf"));
                }
            } else {
                CHECK(ours == expected.get<double>());
                CHECK(std::signbit(ours) == (code >= 128));
            }
        }
    }
    CHECK(nan == 2 + 6);  // e4m3fn: S.1111.111; e5m2: S.11111.{01,10,11}
}

TEST_CASE("float8: F8 tensors in a safetensors file decode to bfloat16 exactly", "[io]") {
    io_test::TempDir dir;
    const std::string path = dir.file("fp8.safetensors");
    std::string codes;
    for (int i = 0; i < 256; ++i) codes.push_back(static_cast<char>(i));
    io_test::write_file(path, raw_safetensors("{" + entry("e4m3", "F8_E4M3", "[16,16]", 0, 256) + "," +
                                                  entry("e5m2", "F8_E5M2", "[256]", 256, 512) +
                                                  ",\"__metadata__\":{\"quant\":\"fp8\"}}",
                                              codes + codes));
    auto t = eio::load_safetensors(path);
    REQUIRE(t.has_value());
    CHECK(t->at("e4m3").scalar_type() == at::kBFloat16);
    CHECK(t->at("e4m3").sizes() == at::IntArrayRef({16, 16}));
    const auto table = nlohmann::json::parse(io_test::run_tool("golden_manifest.py", {"fp8"}));
    for (const auto& [name, kind] : {std::pair{"e4m3", "F8_E4M3"}, std::pair{"e5m2", "F8_E5M2"}}) {
        const at::Tensor flat = t->at(name).reshape({-1});
        for (std::int64_t code = 0; code < 256; ++code) {
            INFO(kind << " code " << code);
            CHECK(io_test::same_value(table.at(kind).at(code), flat, code));
        }
    }
    // The independent reader parses the same file and samples the same values.
    CHECK(io_test::check_manifest(io_test::python_manifest({path}).at(0), t.value()) == 2);
}
