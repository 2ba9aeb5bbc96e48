// The PyTorch zip checkpoint reader against checkpoints written by CPython's own pickler in torch.save's layout
// (tests/tools/write_torch_ckpt.py) and read independently by tests/tools/golden_manifest.py; then bad files.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include "io/checkpoint.h"
#include "io/torch_ckpt.h"
#include "io/zip_archive.h"
#include "io_test_util.h"

using engine::ErrorCode;
using engine::io::read_torch_checkpoint;

namespace {

std::string write_ckpt(const io_test::TempDir& dir, const std::string& name, const std::vector<std::string>& flags) {
    const std::string path = dir.file(name);
    std::vector<std::string> args{path};
    args.insert(args.end(), flags.begin(), flags.end());
    io_test::run_tool("write_torch_ckpt.py", args);
    return path;
}

// A torch-style archive from hand-made parts: <top>data.pkl, <top>byteorder and the given records.
void make_ckpt(const std::string& path, const std::string& pkl, const std::map<std::string, std::string>& records,
               const std::string& top = "archive/", const std::string& byteorder = "little") {
    io_test::ZipBuilder zb;
    zb.add(top + "data.pkl", pkl);
    zb.add(top + "byteorder", byteorder);
    for (const auto& [name, data] : records) zb.add(top + name, data);
    zb.write(path);
}

std::string floats(std::initializer_list<float> v) {
    return std::string(reinterpret_cast<const char*>(v.begin()), v.size() * sizeof(float));
}

// {'state_dict': {'w': tensor(storage '0', FloatStorage, numel, size, stride, offset), ...}}: the builder is left
// inside the inner dict; add entries with str(key) <value> op('s'), then finish() closes both dicts.
io_test::PickleBuilder state_dict_pickle(std::int64_t numel, const std::vector<std::int64_t>& size,
                                         const std::vector<std::int64_t>& stride, std::int64_t offset = 0) {
    io_test::PickleBuilder p;
    p.proto(2).op('}').str("state_dict").op('}').str("w").tensor("0", "FloatStorage", numel, size, stride, offset);
    p.op('s');
    return p;
}

std::string finish(io_test::PickleBuilder& p) {
    return p.op('s').stop().bytes();
}

void check_error(const engine::Expected<engine::io::TorchCheckpoint>& r, ErrorCode code,
                 const std::vector<std::string>& parts) {
    REQUIRE_FALSE(r.has_value());
    INFO(r.error().message);
    CHECK(r.error().code == code);
    for (const auto& part : parts) CHECK_THAT(r.error().message, Catch::Contains(part));
}

}  // namespace

TEST_CASE("torch_ckpt: CPython-written checkpoints read back exactly, protocols 2 to 5", "[io]") {
    const int protocol = GENERATE(2, 3, 4, 5);
    const std::string top = GENERATE(std::string("archive"), std::string("my model.v2"));
    INFO("protocol " << protocol << ", top folder '" << top << "'");
    io_test::TempDir dir;
    const std::string path = write_ckpt(dir, "model.ckpt", {"--protocol", std::to_string(protocol), "--top", top});
    const auto manifest = io_test::python_manifest({path}).at(0);

    auto ckpt = read_torch_checkpoint(path);
    REQUIRE(ckpt.has_value());
    CHECK(io_test::check_manifest(manifest, ckpt->tensors) == 17);
    CHECK(ckpt->state_dict_key == "state_dict");
    CHECK(ckpt->metadata == manifest.at("metadata").get<std::map<std::string, std::string>>());
    CHECK(ckpt->metadata.at("global_step") == "12345");  // Lightning extras survive; placeholders are skipped
    CHECK(ckpt->metadata.count("numpy_value") == 0);
    CHECK(ckpt->bytes_copied == 0);  // aligned records: every tensor is a view into the mapping
    // Tensors sharing a storage share memory, as in PyTorch.
    const auto& w = ckpt->tensors.at("blocks.0.weight");
    const auto& wt = ckpt->tensors.at("blocks.0.weight_t");
    CHECK(w.data_ptr() == wt.data_ptr());
    CHECK(wt.stride(0) == 1);
    CHECK(at::equal(w.t(), wt));
}

TEST_CASE("torch_ckpt: the state dict is found under state_dict, module, model or at the top level", "[io]") {
    io_test::TempDir dir;
    for (const std::string layout : {"plain", "module", "model"}) {
        INFO("layout " << layout);
        const std::string path = write_ckpt(dir, layout + ".pt", {"--layout", layout});
        auto ckpt = read_torch_checkpoint(path);
        REQUIRE(ckpt.has_value());
        CHECK(ckpt->state_dict_key == (layout == "plain" ? "" : layout));
        CHECK(ckpt->tensors.size() == 17);
        CHECK(ckpt->metadata.size() == (layout == "plain" ? 0u : 1u));  // {"epoch": 9} beside the nested dict
        auto via_content = engine::io::load_checkpoint(path);
        REQUIRE(via_content.has_value());
        CHECK(via_content->size() == 17);
    }
}

TEST_CASE("torch_ckpt: misaligned records are copied with the same values", "[io]") {
    io_test::TempDir dir;
    const std::string path = write_ckpt(dir, "unaligned.ckpt", {"--no-align"});
    auto ckpt = read_torch_checkpoint(path);
    REQUIRE(ckpt.has_value());
    CHECK(io_test::check_manifest(io_test::python_manifest({path}).at(0), ckpt->tensors) == 17);
    CHECK(ckpt->bytes_copied > 0);
}

TEST_CASE("torch_ckpt: FP8 tensors (_rebuild_tensor_v3, untyped storage) decode to bfloat16", "[io]") {
    io_test::TempDir dir;
    const std::string path = write_ckpt(dir, "fp8.ckpt", {"--fp8", "--protocol", "4"});
    auto ckpt = read_torch_checkpoint(path);
    REQUIRE(ckpt.has_value());
    CHECK(io_test::check_manifest(io_test::python_manifest({path}).at(0), ckpt->tensors) == 19);
    const auto table = nlohmann::json::parse(io_test::run_tool("golden_manifest.py", {"fp8"}));
    for (const auto& [name, kind] : {std::pair{"fp8_e4m3", "F8_E4M3"}, std::pair{"fp8_e5m2", "F8_E5M2"}}) {
        const at::Tensor t = ckpt->tensors.at(name).reshape({-1});
        REQUIRE(t.numel() == 256);
        for (std::int64_t code = 0; code < 256; ++code) {
            INFO(kind << " code " << code);
            CHECK(io_test::same_value(table.at(kind).at(code), t, code));
        }
    }
}

TEST_CASE("torch_ckpt: a ZIP64 checkpoint with records beyond 4 GiB loads like the original", "[io]") {
    io_test::TempDir dir;
    const std::string original = write_ckpt(dir, "small.ckpt", {});
    auto src = engine::io::ZipArchive::open(original);
    REQUIRE(src.has_value());
    // Rewrite with ZIP64 records everywhere and a 4 GiB hole (sparse) before the storage records.
    const std::string big = dir.file("zip64.ckpt");
    io_test::ZipBuilder zb(true);
    bool gap = false;
    for (const auto& e : src.value()->entries()) {
        if (!gap && e.name.find("/data/") != std::string::npos) {
            zb.add_gap((std::uint64_t{1} << 32) + 100);
            gap = true;
        }
        auto bytes = src.value()->stored_data(e);
        REQUIRE(bytes.has_value());
        zb.add(e.name, std::string(reinterpret_cast<const char*>(bytes->data), bytes->size));
    }
    zb.write(big);
    auto ckpt = read_torch_checkpoint(big);
    REQUIRE(ckpt.has_value());
    // The independent reader sees the same tensors in the original file.
    CHECK(io_test::check_manifest(io_test::python_manifest({original}).at(0), ckpt->tensors) == 17);
    CHECK(ckpt->bytes_copied == 0);
}

TEST_CASE("torch_ckpt: bad files give clear errors", "[io]") {
    io_test::TempDir dir;
    const std::string path = dir.file("bad.ckpt");

    SECTION("not a zip") {
        io_test::write_file(path, "this is a text file, not a checkpoint");
        check_error(read_torch_checkpoint(path), ErrorCode::ModelLoadFailed,
                    {path, "not a PyTorch checkpoint", "zip header"});
    }
    SECTION("legacy (pre-1.6) torch.save format") {
        // PROTO 2, LONG1 with torch's legacy magic number 0x1950a86a20f9469cfc6c, ...
        io_test::write_file(path, std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15));
        check_error(read_torch_checkpoint(path), ErrorCode::UnsupportedModel,
                    {path, "legacy format", "torch.save(torch.load(path, map_location='cpu')"});
    }
    SECTION("a zip without data.pkl") {
        io_test::ZipBuilder zb;
        zb.add("archive/data/0", floats({1, 2}));
        zb.add("readme.txt", "hello");
        zb.write(path);
        check_error(read_torch_checkpoint(path), ErrorCode::ModelLoadFailed,
                    {path, "without data.pkl", "archive/data/0, readme.txt"});
    }
    SECTION("os.system via REDUCE in the state dict") {
        auto p = state_dict_pickle(2, {2}, {1});
        p.str("evil").global("os", "system").str("touch /tmp/pwned").op(0x85).op('R').op('s');
        make_ckpt(path, finish(p), {{"data/0", floats({1, 2})}});
        check_error(read_torch_checkpoint(path), ErrorCode::ModelLoadFailed, {path, "forbidden global os.system"});
    }
    SECTION("an unknown global inside the state dict is named; the same outside it loads") {
        const std::string inside = write_ckpt(dir, "inside.ckpt", {"--bad-in-state-dict"});
        check_error(read_torch_checkpoint(inside), ErrorCode::UnsupportedModel,
                    {"entry 'evil'", "forbidden global numpy.core.multiarray.scalar"});
        const std::string outside = write_ckpt(dir, "outside.ckpt", {});  // numpy scalars in its metadata
        CHECK(read_torch_checkpoint(outside).has_value());
    }
    SECTION("a pickled model object instead of a state dict") {
        io_test::PickleBuilder p;
        p.proto(2).global("mymodels", "UNet").op(')').op(0x81).op('}').op('b').stop();
        make_ckpt(path, p.bytes(), {});
        check_error(read_torch_checkpoint(path), ErrorCode::UnsupportedModel,
                    {"pickled Python object (mymodels.UNet)", "torch.save(model.state_dict()"});
    }
    SECTION("a missing storage record") {
        auto p = state_dict_pickle(2, {2}, {1});
        make_ckpt(path, finish(p), {{"data/1", floats({1, 2})}});
        check_error(read_torch_checkpoint(path), ErrorCode::ModelLoadFailed,
                    {path, "storage '0'", "'archive/data/0' is missing"});
    }
    SECTION("a storage record shorter than its size") {
        auto p = state_dict_pickle(4, {4}, {1});
        make_ckpt(path, finish(p), {{"data/0", floats({1, 2})}});
        check_error(read_torch_checkpoint(path), ErrorCode::ModelLoadFailed,
                    {"storage '0' should hold 4 F32 elements", "has only 8 bytes"});
    }
    SECTION("a view reaching past its storage") {
        auto p = state_dict_pickle(4, {2, 2}, {2, 1}, 1);
        make_ckpt(path, finish(p), {{"data/0", floats({1, 2, 3, 4})}});
        check_error(read_torch_checkpoint(path), ErrorCode::ModelLoadFailed,
                    {"reaches past the end of storage '0'", "size [2, 2], stride [2, 1], offset 1"});
    }
    SECTION("big-endian byte order") {
        auto p = state_dict_pickle(2, {2}, {1});
        make_ckpt(path, finish(p), {{"data/0", floats({1, 2})}}, "archive/", "big");
        check_error(read_torch_checkpoint(path), ErrorCode::UnsupportedModel, {"big-endian"});
    }
    SECTION("no tensors at all") {
        io_test::PickleBuilder p;
        p.proto(2).op('}').str("epoch").integer(3).op('s').stop();
        make_ckpt(path, p.bytes(), {});
        check_error(read_torch_checkpoint(path), ErrorCode::UnsupportedModel, {"no state dict found", "epoch"});
    }
    SECTION("a corrupt data.pkl fails its CRC") {
        auto p = state_dict_pickle(2, {2}, {1});
        make_ckpt(path, finish(p), {{"data/0", floats({1, 2})}});
        std::string bytes = io_test::read_file(path);
        const auto at = bytes.find("state_dict");
        REQUIRE(at != std::string::npos);
        bytes[at] = 'S';
        io_test::write_file(path, bytes);
        check_error(read_torch_checkpoint(path), ErrorCode::ModelLoadFailed, {"archive/data.pkl", "CRC-32"});
    }
    SECTION("a compressed checkpoint (re-zipped with deflate)") {
        const std::string good = write_ckpt(dir, "good.ckpt", {});
        auto src = engine::io::ZipArchive::open(good);
        REQUIRE(src.has_value());
        io_test::ZipBuilder zb;
        for (const auto& e : src.value()->entries()) {
            auto bytes = src.value()->stored_data(e);
            REQUIRE(bytes.has_value());
            zb.add(e.name, std::string(reinterpret_cast<const char*>(bytes->data), bytes->size),
                   e.name.find("data.pkl") != std::string::npos ? 8 : 0);
        }
        zb.write(path);
        check_error(read_torch_checkpoint(path), ErrorCode::UnsupportedModel,
                    {"archive/data.pkl", "compressed (deflate", "torch.save"});
    }
}

TEST_CASE("torch_ckpt: truncated checkpoints fail cleanly at every length", "[io]") {
    io_test::TempDir dir;
    const std::string good = io_test::read_file(write_ckpt(dir, "good.ckpt", {}));
    const std::string path = dir.file("cut.ckpt");
    std::size_t failures = 0;
    for (std::size_t len = 0; len < good.size(); len += 13) {
        io_test::write_file(path, good.substr(0, len));
        auto r = read_torch_checkpoint(path);
        INFO("truncated to " << len << " of " << good.size());
        REQUIRE_FALSE(r.has_value());
        CHECK_THAT(r.error().message, Catch::Contains(path));
        ++failures;
    }
    CHECK(failures > 100);
}
