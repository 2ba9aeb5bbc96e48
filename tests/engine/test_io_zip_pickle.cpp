// The zip reader and the restricted unpickler under the torch checkpoint reader: well-formed input from
// independent writers (CPython's pickle and zipfile), ZIP64 (also beyond 4 GiB in a sparse file), and
// malformed or hostile input, which must give clear errors and never crash.
#include <catch2/catch.hpp>

#include <random>

#include "io/pickle.h"
#include "io/zip_archive.h"
#include "io_test_util.h"

using engine::ErrorCode;
using engine::io::ZipArchive;
namespace pk = engine::io::pickle;

namespace {

std::string python_bytes(const std::string& code) {
    // Runs a Python snippet that writes bytes to stdout (python3 -c, standard library only).
    io_test::TempDir dir;
    const std::string script = dir.file("snippet.py");
    io_test::write_file(script, code);
    const std::string cmd = "python3 " + io_test::shell_quote(script);
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    REQUIRE(::pclose(p) == 0);
    return out;
}

engine::Expected<pk::ValuePtr> unpickle(const std::string& bytes,
                                        const pk::UnpickleHooks& hooks = pk::python_data_hooks()) {
    return pk::unpickle(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), hooks, "test.pkl");
}

const pk::Value& entry(const pk::Value& dict, const std::string& key) {
    const pk::ValuePtr* v = dict.find(key);
    INFO("key " << key);
    REQUIRE(v != nullptr);
    return **v;
}

}  // namespace

TEST_CASE("zip: stored entries are served zero-copy, with and without ZIP64 records", "[io]") {
    const bool zip64 = GENERATE(false, true);
    INFO("zip64 " << zip64);
    io_test::TempDir dir;
    const std::string path = dir.file("a.zip");
    io_test::ZipBuilder zb(zip64);
    zb.add("archive/data.pkl", "pickle bytes");
    zb.add("archive/data/0", std::string(1000, '\x07'));
    zb.add("archive/empty", "");
    zb.write(path);
    // The builder's output is a valid zip for an independent reader (CPython's zipfile, CRCs included).
    const std::string check = python_bytes("import zipfile\nz=zipfile.ZipFile('" + path +
                                           "')\nassert z.testzip() is None\nprint(len(z.infolist()))\n");
    CHECK(check == "3\n");

    auto zip = ZipArchive::open(path);
    REQUIRE(zip.has_value());
    const auto& z = *zip.value();
    REQUIRE(z.entries().size() == 3);
    CHECK(z.entries()[0].name == "archive/data.pkl");
    const auto* e = z.find("archive/data/0");
    REQUIRE(e != nullptr);
    CHECK(z.find("archive/data/1") == nullptr);
    auto data = z.stored_data(*e);
    REQUIRE(data.has_value());
    CHECK(data->size == 1000);
    CHECK(data->data >= z.file()->data());
    CHECK(data->data + data->size <= z.file()->data() + z.file()->size());
    CHECK(reinterpret_cast<std::uintptr_t>(data->data) % 64 == 0);
    CHECK(std::string(reinterpret_cast<const char*>(data->data), data->size) == std::string(1000, '\x07'));
    auto pkl = z.stored_data_checked(*z.find("archive/data.pkl"));
    REQUIRE(pkl.has_value());
    CHECK(std::string(reinterpret_cast<const char*>(pkl->data), pkl->size) == "pickle bytes");
    auto empty = z.stored_data_checked(*z.find("archive/empty"));
    REQUIRE(empty.has_value());
    CHECK(empty->size == 0);
}

TEST_CASE("zip: CRC-32 matches CPython's zlib.crc32", "[io]") {
    std::string data;
    for (int i = 0; i < 5000; ++i) data.push_back(static_cast<char>((i * 7919) & 0xFF));
    io_test::TempDir dir;
    io_test::write_file(dir.file("d.bin"), data);
    const std::string expected =
        python_bytes("import zlib\nprint(zlib.crc32(open('" + dir.file("d.bin") + "','rb').read()))\n");
    const auto ours = ZipArchive::crc32(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    CHECK(std::to_string(ours) + "\n" == expected);
}

TEST_CASE("zip: ZIP64 offsets past 4 GiB (sparse file) are read", "[io]") {
    io_test::TempDir dir;
    const std::string path = dir.file("big.zip");
    io_test::ZipBuilder zb(true);
    zb.add("archive/data.pkl", "head");
    zb.add_gap((std::uint64_t{1} << 32) + 12345);  // a hole: nothing is written there
    zb.add("archive/data/0", "tail record");
    zb.write(path);
    auto zip = ZipArchive::open(path);
    REQUIRE(zip.has_value());
    const auto* e = zip.value()->find("archive/data/0");
    REQUIRE(e != nullptr);
    CHECK(e->local_header_offset > (std::uint64_t{1} << 32));
    auto data = zip.value()->stored_data_checked(*e);
    REQUIRE(data.has_value());
    CHECK(std::string(reinterpret_cast<const char*>(data->data), data->size) == "tail record");
}

TEST_CASE("zip: a compressed entry is an error that names it", "[io]") {
    io_test::TempDir dir;
    const std::string path = dir.file("deflated.zip");
    python_bytes("import zipfile\nwith zipfile.ZipFile('" + path +
                 "','w',compression=zipfile.ZIP_DEFLATED) as z:\n  z.writestr('archive/data.pkl', b'x'*1000)\n");
    auto zip = ZipArchive::open(path);
    REQUIRE(zip.has_value());
    auto data = zip.value()->stored_data(zip.value()->entries().at(0));
    REQUIRE_FALSE(data.has_value());
    CHECK(data.error().code == ErrorCode::UnsupportedModel);
    CHECK_THAT(data.error().message, Catch::Contains("archive/data.pkl") && Catch::Contains("compressed (deflate"));
}

TEST_CASE("zip: truncated, corrupt or non-zip input gives clear errors and never reads out of bounds", "[io]") {
    io_test::TempDir dir;
    const std::string path = dir.file("t.zip");
    for (bool zip64 : {false, true}) {
        io_test::ZipBuilder zb(zip64, 1);
        zb.add("archive/data.pkl", "0123456789");
        zb.add("archive/data/0", std::string(100, 'x'));
        const std::string good = zb.bytes();

        // Every truncation loses the end record: a clear error each time.
        for (std::size_t len = 0; len < good.size(); ++len) {
            io_test::write_file(path, good.substr(0, len));
            auto zip = ZipArchive::open(path);
            INFO("zip64 " << zip64 << ", truncated to " << len << " of " << good.size() << " bytes");
            REQUIRE_FALSE(zip.has_value());
            CHECK(zip.error().code == ErrorCode::ModelLoadFailed);
            CHECK_THAT(zip.error().message, Catch::Contains("not a valid zip archive"));
        }
        // Every single-byte corruption: an error, or an archive whose entries all lie inside the file.
        for (std::size_t i = 0; i < good.size(); ++i) {
            std::string bad = good;
            bad[i] = static_cast<char>(~bad[i]);
            io_test::write_file(path, bad);
            auto zip = ZipArchive::open(path);
            if (!zip) {
                CHECK_FALSE(zip.error().message.empty());
                continue;
            }
            for (const auto& e : zip.value()->entries()) {
                auto data = zip.value()->stored_data_checked(e);
                if (data) {
                    CHECK(data->data + data->size <= zip.value()->file()->data() + bad.size());
                }
            }
        }
    }
    io_test::write_file(path, "just some text, certainly not a zip archive");
    auto zip = ZipArchive::open(path);
    REQUIRE_FALSE(zip.has_value());
    CHECK_THAT(zip.error().message, Catch::Contains("no end-of-central-directory record"));
}

TEST_CASE("pickle: CPython's pickles of plain data read back, protocols 1 to 5", "[io]") {
    const int protocol = GENERATE(1, 2, 3, 4, 5);
    INFO("protocol " << protocol);
    const std::string bytes = python_bytes(
        "import pickle,sys,collections\n"
        "shared=[1,2]\n"
        "obj={'ints':[0,1,-1,255,256,65535,65536,-70000,2**31-1,-2**31,2**40,-2**40,2**63-1,-2**63],\n"
        "     'floats':[0.5,-1e300,float('inf')],'flags':(True,False,None),'text':'caf\\u00e9 \\u6771',\n"
        "     'raw':b'\\x00\\xff\\x80','t0':(),'t1':(1,),'t2':(1,2),'t3':(1,2,3),'t4':(1,2,3,4),\n"
        "     'set':{7},'frozen':frozenset([8]),'od':collections.OrderedDict([('z',1),('a',2)]),\n"
        "     'a':shared,'b':shared,'big':2**70,'long_text':'x'*300,'ba':bytearray(b'ab'),1:'int key'}\n"
        "sys.stdout.buffer.write(pickle.dumps(obj,protocol=" +
        std::to_string(protocol) + "))\n");
    auto root = unpickle(bytes);
    REQUIRE(root.has_value());
    const pk::Value& d = *root.value();
    REQUIRE(d.kind == pk::Kind::Dict);
    CHECK(d.entries.size() == 19);

    const std::vector<std::int64_t> ints = {0,         1,        -1,         255,           256,       65535,
                                            65536,     -70000,   2147483647, -2147483648LL, 1LL << 40, -(1LL << 40),
                                            INT64_MAX, INT64_MIN};
    const pk::Value& vi = entry(d, "ints");
    REQUIRE(vi.kind == pk::Kind::List);
    REQUIRE(vi.items.size() == ints.size());
    for (std::size_t i = 0; i < ints.size(); ++i) {
        INFO("ints[" << i << "]");
        CHECK(vi.items[i]->kind == pk::Kind::Int);
        CHECK(vi.items[i]->integer == ints[i]);
    }
    const pk::Value& vf = entry(d, "floats");
    CHECK(vf.items.at(0)->real == 0.5);
    CHECK(vf.items.at(1)->real == -1e300);
    CHECK(std::isinf(vf.items.at(2)->real));
    const pk::Value& flags = entry(d, "flags");
    REQUIRE(flags.kind == pk::Kind::Tuple);
    CHECK(flags.items.at(0)->kind == pk::Kind::Bool);
    CHECK(flags.items.at(0)->boolean);
    CHECK_FALSE(flags.items.at(1)->boolean);
    CHECK(flags.items.at(2)->kind == pk::Kind::None);
    CHECK(entry(d, "text").text == "caf\xc3\xa9 \xe6\x9d\xb1");
    CHECK(entry(d, "raw").kind == pk::Kind::Bytes);
    CHECK(entry(d, "raw").text == std::string("\x00\xff\x80", 3));
    for (int n = 0; n <= 4; ++n) {
        const pk::Value& t = entry(d, "t" + std::to_string(n));
        CHECK(t.kind == pk::Kind::Tuple);
        CHECK(t.items.size() == static_cast<std::size_t>(n));
    }
    CHECK(entry(d, "set").kind == pk::Kind::Set);
    CHECK(entry(d, "set").items.at(0)->integer == 7);
    CHECK(entry(d, "frozen").items.at(0)->integer == 8);
    const pk::Value& od = entry(d, "od");
    REQUIRE(od.kind == pk::Kind::Dict);
    REQUIRE(od.entries.size() == 2);
    CHECK(od.entries[0].first->text == "z");  // insertion order kept
    CHECK(entry(od, "a").integer == 2);
    CHECK(d.find("a")->get() == d.find("b")->get());  // the memo shares one object, as Python does
    CHECK(entry(d, "big").kind == pk::Kind::Object);  // wider than 64 bits: an inert placeholder
    CHECK(entry(d, "long_text").text == std::string(300, 'x'));
    CHECK(entry(d, "ba").text == "ab");
    bool int_key = false;
    for (const auto& [k, v] : d.entries) int_key = int_key || (k->kind == pk::Kind::Int && v->text == "int key");
    CHECK(int_key);
}

TEST_CASE("pickle: unknown globals become inert placeholders, code-running globals are refused", "[io]") {
    SECTION("argparse.Namespace via NEWOBJ + BUILD, numpy scalar via REDUCE") {
        io_test::PickleBuilder p;
        p.proto(2).op('}').mark();
        p.str("ns")
            .global("argparse", "Namespace")
            .op(')')
            .op(0x81)
            .op('}')
            .str("lr")
            .raw("G?\x1a\x36\xe2\xeb\x1c\x43\x2d")
            .op('s')
            .op('b');
        p.str("np").global("numpy.core.multiarray", "scalar").str("f8").op(0x85).op('R');
        p.op('u').stop();
        auto root = unpickle(p.bytes());
        REQUIRE(root.has_value());
        const pk::Value& ns = entry(*root.value(), "ns");
        CHECK(ns.kind == pk::Kind::Object);
        CHECK(ns.text == "argparse.Namespace");
        REQUIRE(ns.state != nullptr);
        CHECK(entry(*ns.state, "lr").real == Approx(1e-4));
        CHECK(entry(*root.value(), "np").text == "numpy.core.multiarray.scalar");
        try {
            pk::require_no_placeholder(*root.value(), "the test value");
            FAIL("a placeholder went unnoticed");
        } catch (const pk::PickleError& e) {
            CHECK_THAT(std::string(e.what()), Catch::Contains("forbidden global"));
        }
    }
    SECTION("os.system via GLOBAL + REDUCE") {
        io_test::PickleBuilder p;
        p.proto(2).global("os", "system").str("echo pwned").op(0x85).op('R').stop();
        auto root = unpickle(p.bytes());
        REQUIRE_FALSE(root.has_value());
        CHECK(root.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(root.error().message, Catch::Contains("forbidden global os.system") && Catch::Contains("test.pkl"));
    }
    SECTION("subprocess.Popen via STACK_GLOBAL (protocol 4)") {
        io_test::PickleBuilder p;
        p.proto(4).op(0x8c).op(10).raw("subprocess").op(0x8c).op(5).raw("Popen").op(0x93).stop();
        auto root = unpickle(p.bytes());
        REQUIRE_FALSE(root.has_value());
        CHECK_THAT(root.error().message, Catch::Contains("forbidden global subprocess.Popen"));
    }
    SECTION("builtins.eval") {
        io_test::PickleBuilder p;
        p.proto(2).global("builtins", "eval").str("1+1").op(0x85).op('R').stop();
        auto root = unpickle(p.bytes());
        REQUIRE_FALSE(root.has_value());
        CHECK_THAT(root.error().message, Catch::Contains("forbidden global builtins.eval"));
    }
}

TEST_CASE("pickle: malformed input gives errors with the opcode and byte, never a crash", "[io]") {
    struct Case {
        std::string bytes;
        std::string message;
    };
    const std::vector<Case> cases = {
        {"", "ends in the middle"},
        {std::string("\x80\x02", 2), "ends in the middle"},
        {std::string("\x80\x06.", 3), "protocol 6"},
        {std::string("\x80\x02t.", 4), "no MARK"},
        {std::string("\x80\x02R.", 4), "stack underflow"},
        {std::string("\x80\x02h\x05.", 5), "memo key 5"},
        {std::string("\x80\x02\xff.", 4), "unknown opcode 0xff"},
        {std::string("\x80\x02X\xff\xff\xff\x7f", 7), "ends in the middle"},
        {std::string("\x80\x02K\x01K\x02.", 7), "STOP with 2 values"},
        {std::string("\x80\x02K\x01K\x02K\x03s.", 10), "SETITEM on int 1"},
        {std::string("\x80\x02}K\x01\x85R.", 8), "a call of dict"},  // handled below: not an error
        {std::string("\x80\x02K\x01Q.", 6), "persistent id"},
        {std::string("\x80\x02\x82\x01.", 5), "extension registry"},
    };
    for (const auto& c : cases) {
        INFO("input of " << c.bytes.size() << " bytes, expecting '" << c.message << "'");
        auto r = unpickle(c.bytes);
        if (c.message == "a call of dict") {
            // Calling a non-callable value is recorded, not executed.
            REQUIRE(r.has_value());
            CHECK(r.value()->kind == pk::Kind::Object);
            continue;
        }
        REQUIRE_FALSE(r.has_value());
        CHECK_THAT(r.error().message, Catch::Contains(c.message) && Catch::Contains("at byte"));
    }

    // Every truncation and many random corruptions of a real pickle: errors or values, never a crash.
    const std::string good = python_bytes(
        "import pickle,sys,collections\n"
        "sys.stdout.buffer.write(pickle.dumps({'a':[1,2.5,'x',b'y',(1,2,3,4)],'od':collections.OrderedDict(z=1),"
        "'n':None,'big':2**70},protocol=2))\n");
    REQUIRE(unpickle(good).has_value());
    for (std::size_t len = 0; len < good.size(); ++len) {
        auto r = unpickle(good.substr(0, len));
        CHECK_FALSE(r.has_value());
    }
    std::mt19937 rng(1234);
    for (int trial = 0; trial < 3000; ++trial) {
        std::string bad = good;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<char>(rng() & 0xFF);
        auto r = unpickle(bad);
        if (!r) CHECK_FALSE(r.error().message.empty());
    }
}

TEST_CASE("pickle: reference cycles are cut, not leaked", "[io]") {
    // l = []; l.append(l); {'l': l} -- and a cycle that is dropped from the stack (DUP, APPEND, POP).
    const std::string bytes = python_bytes(
        "import pickle,sys\nl=[]\nl.append(l)\nsys.stdout.buffer.write(pickle.dumps({'l':l},protocol=2))\n");
    auto r = unpickle(bytes);
    REQUIRE(r.has_value());
    const pk::Value& l = entry(*r.value(), "l");
    REQUIRE(l.items.size() == 1);
    CHECK(l.items[0]->kind == pk::Kind::Object);
    CHECK(l.items[0]->text == "a reference cycle");
    auto dropped = unpickle(std::string("\x80\x02]2a0K\x01.", 9));
    REQUIRE(dropped.has_value());
    CHECK(dropped.value()->integer == 1);
}

TEST_CASE("pickle: a million nested lists neither overflow the stack nor leak", "[io]") {
    const std::size_t depth = 1000000;
    std::string bytes("\x80\x02", 2);
    bytes.append(depth, ']');
    bytes.append(depth - 1, 'a');
    bytes.push_back('.');
    auto r = unpickle(bytes);
    REQUIRE(r.has_value());
    CHECK(pk::find_placeholder(*r.value()) == nullptr);
    const pk::Value* v = r.value().get();
    std::size_t n = 1;
    while (!v->items.empty()) {
        v = v->items[0].get();
        ++n;
    }
    CHECK(n == depth);
}
