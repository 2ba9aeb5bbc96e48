// io/yaml_subset: the structures and scalars of the LVDM configs (resolved as OmegaConf resolves them),
// the real config files, and an error with line:column for everything outside the subset.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "io/yaml_subset.h"

using engine::ErrorCode;
using nlohmann::json;

namespace {

std::filesystem::path fixtures_dir() {
    if (const char* src = std::getenv("KINORA_SOURCE_DIR"); src != nullptr && *src != '\0') {
        return std::filesystem::path(src) / "tests" / "fixtures";
    }
    return std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures";
}

json parse(const std::string& text) {
    auto j = engine::io::parse_yaml_subset(text, "t.yaml");
    INFO(text);
    INFO((j ? std::string() : j.error().message));
    REQUIRE(j.has_value());
    return *j;
}

engine::Error parse_error(const std::string& text) {
    auto j = engine::io::parse_yaml_subset(text, "t.yaml");
    INFO(text);
    INFO((j ? "parsed as " + j->dump() : std::string()));
    REQUIRE_FALSE(j.has_value());
    return j.error();
}

json scalar(const std::string& value) {
    return parse("v: " + value).at("v");
}

}  // namespace

TEST_CASE("yaml_subset: scalars resolve as OmegaConf's loader resolves them", "[io]") {
    CHECK(scalar("1000") == json(1000));
    CHECK(scalar("1000").is_number_integer());
    CHECK(scalar("-3") == json(-3));
    CHECK(scalar("+5") == json(5));
    CHECK(scalar("0") == json(0));
    CHECK(scalar("1_000") == json(1000));
    CHECK(scalar("9223372036854775807") == json(std::numeric_limits<int64_t>::max()));
    CHECK(scalar("-9223372036854775808") == json(std::numeric_limits<int64_t>::min()));

    CHECK(scalar("0.00085").get<double>() == 0.00085);
    CHECK(scalar("0.18215").is_number_float());
    CHECK(scalar("1e-4").get<double>() == 1e-4);  // a float for OmegaConf (PyYAML alone would say string)
    CHECK(scalar("1.0e-05").get<double>() == 1.0e-05);
    CHECK(scalar("1E+3").get<double>() == 1000.0);
    CHECK(scalar("1.").get<double>() == 1.0);
    CHECK(scalar("-2.5").get<double>() == -2.5);
    CHECK(scalar(".5").get<double>() == 0.5);
    CHECK(scalar("0.0").is_number_float());
    CHECK(scalar(".inf").get<double>() == std::numeric_limits<double>::infinity());
    CHECK(scalar("-.Inf").get<double>() == -std::numeric_limits<double>::infinity());
    CHECK(scalar("+.INF").get<double>() == std::numeric_limits<double>::infinity());
    CHECK(std::isnan(scalar(".nan").get<double>()));
    CHECK(std::isnan(scalar(".NaN").get<double>()));

    for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "on", "ON"}) {
        CAPTURE(t);
        CHECK(scalar(t) == json(true));
    }
    for (const char* f : {"false", "False", "FALSE", "no", "NO", "off", "Off"}) {
        CAPTURE(f);
        CHECK(scalar(f) == json(false));
    }
    for (const char* n : {"null", "Null", "NULL", "~", ""}) {
        CAPTURE(n);
        CHECK(scalar(n).is_null());
    }

    CHECK(scalar("empty_seq") == json("empty_seq"));
    CHECK(scalar("lvdm.models.ddpm3d.LatentDiffusion") == json("lvdm.models.ddpm3d.LatentDiffusion"));
    CHECK(scalar("val/rec_loss") == json("val/rec_loss"));
    CHECK(scalar("http://x.y/z") == json("http://x.y/z"));
    CHECK(scalar("ViT-H-14") == json("ViT-H-14"));
    CHECK(scalar("a b  c") == json("a b  c"));
    CHECK(scalar("a#b") == json("a#b"));  // '#' starts a comment only after a space
    CHECK(scalar("don't") == json("don't"));
    CHECK(scalar("-.5") == json("-.5"));  // not in OmegaConf's float rule: a string there too
    CHECK(scalar("1e4x") == json("1e4x"));
    CHECK(scalar("True1") == json("True1"));
    CHECK(scalar("'empty_seq'") == json("empty_seq"));
    CHECK(scalar("\"penultimate\"") == json("penultimate"));
    CHECK(scalar("'1000'") == json("1000"));
    CHECK(scalar("'true'") == json("true"));
    CHECK(scalar("''") == json(""));
    CHECK(scalar("'it''s # here'") == json("it's # here"));
    CHECK(scalar(R"("a\tb\n\"q\" \\ \u00e9 \U0001F600 \ud83d\ude00 \x41")") ==
          json("a\tb\n\"q\" \\ \xC3\xA9 \xF0\x9F\x98\x80 \xF0\x9F\x98\x80 A"));
}

TEST_CASE("yaml_subset: block and flow structures", "[io]") {
    SECTION("nested mappings, sequences at and below their key's indentation, comments") {
        const json j = parse(
            "# leading comment\n"
            "---\n"
            "model:   # trailing comment\n"
            "  target: x.Y\n"
            "\n"
            "  params:\n"
            "    image_size:\n"
            "    - 40\n"
            "    - 64   # comment after an item\n"
            "    attention_resolutions:\n"
            "      - 4\n"
            "      -   2\n"
            "    # a comment line inside a block\n"
            "    attn_resolutions: []\n"
            "    flow: [0.5, 'a, b', \"c]\", [1, []], {k: v, n: }]\n"
            "    empty_map: {}\n"
            "    nothing:\n"
            "  other: 1\n"
            "...\n"
            "# after the end marker\n");
        const json expected = {{"model",
                                {{"target", "x.Y"},
                                 {"params",
                                  {{"image_size", {40, 64}},
                                   {"attention_resolutions", {4, 2}},
                                   {"attn_resolutions", json::array()},
                                   {"flow", {0.5, "a, b", "c]", {1, json::array()}, {{"k", "v"}, {"n", nullptr}}}},
                                   {"empty_map", json::object()},
                                   {"nothing", nullptr}}},
                                 {"other", 1}}}};
        CHECK(j == expected);
    }
    SECTION("sequences of mappings and of sequences") {
        const json j = parse(
            "items:\n"
            "  - name: a\n"
            "    value: 1\n"
            "  - name: b\n"
            "    list:\n"
            "    - x\n"
            "  - - 1\n"
            "    - 2\n"
            "  -\n"
            "    deep: true\n"
            "  -\n"
            "  - 'q'\n");
        const json expected = {{"items",
                                {{{"name", "a"}, {"value", 1}},
                                 {{"name", "b"}, {"list", {"x"}}},
                                 {1, 2},
                                 {{"deep", true}},
                                 nullptr,
                                 "q"}}};
        CHECK(j == expected);
    }
    SECTION("quoted keys, CRLF line ends, a byte-order mark, a top-level sequence, an empty document") {
        CHECK(parse("\xEF\xBB\xBF\"a key\": 1\r\n'b': [x]\r\n") == json({{"a key", 1}, {"b", {"x"}}}));
        CHECK(parse("- 1\n- two\n") == json({1, "two"}));
        CHECK(parse("").is_null());
        CHECK(parse("# only a comment\n\n").is_null());
    }
}

TEST_CASE("yaml_subset: every real LVDM config parses", "[io]") {
    const auto dir = fixtures_dir() / "lvdm_configs";
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".yaml") continue;
        ++count;
        CAPTURE(entry.path().string());
        auto j = engine::io::read_yaml_file(entry.path().string());
        INFO((j ? std::string() : j.error().message));
        REQUIRE(j.has_value());
        const json& params = j->at("model").at("params");
        CHECK(params.at("linear_start").get<double>() == 0.00085);
        CHECK(params.at("timesteps") == json(1000));
        CHECK(params.at("scale_factor").get<double>() == 0.18215);
        CHECK(params.at("image_size").is_array());
        CHECK(params.at("first_stage_config").at("params").at("ddconfig").at("attn_resolutions") == json::array());
        CHECK(params.at("unet_config").at("params").at("channel_mult") == json({1, 2, 4, 4}));
        CHECK(params.at("cond_stage_config").at("params").at("layer") == json("penultimate"));
        CHECK(params.at("uncond_type") == json("empty_seq"));
    }
    CHECK(count == 7);
}

TEST_CASE("yaml_subset: constructs outside the subset are errors with line and column", "[io]") {
    struct Case {
        const char* text;
        const char* where;  // "line:column"
        ErrorCode code;
        const char* says;
    };
    const Case cases[] = {
        {"a: 1\n\tb: 2\n", "2:1", ErrorCode::ModelLoadFailed, "tabs"},
        {"a: &x 1\nb: *x\n", "1:4", ErrorCode::UnsupportedModel, "anchor"},
        {"a: *x\n", "1:4", ErrorCode::UnsupportedModel, "alias"},
        {"a: !!float 1\n", "1:4", ErrorCode::UnsupportedModel, "tag"},
        {"a: |\n  text\n", "1:4", ErrorCode::UnsupportedModel, "block scalar"},
        {"a: >\n  text\n", "1:4", ErrorCode::UnsupportedModel, "block scalar"},
        {"? a\n: b\n", "1:1", ErrorCode::UnsupportedModel, "complex"},
        {"%YAML 1.1\n---\na: 1\n", "1:1", ErrorCode::UnsupportedModel, "directive"},
        {"a: 1\n---\nb: 2\n", "2:1", ErrorCode::UnsupportedModel, "second YAML document"},
        {"a: 1\n...\nb: 2\n", "3:1", ErrorCode::UnsupportedModel, "after the end"},
        {"a: 1\na: 2\n", "2:1", ErrorCode::ModelLoadFailed, "duplicate key 'a'"},
        {"m:\n  x: 1\n  x: 2\n", "3:3", ErrorCode::ModelLoadFailed, "duplicate key 'x'"},
        {"a: {x: 1, x: 2}\n", "1:11", ErrorCode::ModelLoadFailed, "duplicate key 'x'"},
        {"a: [1, 2\nb: 3\n", "1:9", ErrorCode::UnsupportedModel, "does not close"},
        {"a: {x: 1\n", "1:9", ErrorCode::UnsupportedModel, "does not close"},
        {"a: 'open\n", "1:4", ErrorCode::UnsupportedModel, "does not close"},
        {"a: \"bad \\q\"\n", "1:9", ErrorCode::ModelLoadFailed, "unknown escape"},
        {"a:\n  b: 1\n    c: 2\n", "3:5", ErrorCode::ModelLoadFailed, "unexpected indentation"},
        {"a: 1\n  b: 2\n", "2:3", ErrorCode::ModelLoadFailed, "unexpected indentation"},
        {"a: some text\n  continued\n", "2:3", ErrorCode::ModelLoadFailed, "unexpected indentation"},
        {"a:\n  text\n  more\n", "3:3", ErrorCode::UnsupportedModel, "continued on the next line"},
        {"a: 1\n b: 2\n", "2:2", ErrorCode::ModelLoadFailed, "unexpected indentation"},
        {"a: - 1\n", "1:4", ErrorCode::ModelLoadFailed, "sequence item"},
        {"a: b: c\n", "1:5", ErrorCode::ModelLoadFailed, "mapping value"},
        {"a: 0x1F\n", "1:4", ErrorCode::UnsupportedModel, "hexadecimal"},
        {"a: 010\n", "1:4", ErrorCode::UnsupportedModel, "octal"},
        {"a: 1:30\n", "1:4", ErrorCode::UnsupportedModel, "base-60"},
        {"a: 9223372036854775808\n", "1:4", ErrorCode::ModelLoadFailed, "64 bits"},
        {"a: [x: 1]\n", "1:5", ErrorCode::UnsupportedModel, "flow sequence"},
        {"a: [1,, 2]\n", "1:7", ErrorCode::ModelLoadFailed, "empty entry"},
        {"a: 'x' y\n", "1:8", ErrorCode::ModelLoadFailed, "unexpected text"},
        {"a: @x\n", "1:4", ErrorCode::ModelLoadFailed, "cannot start"},
        {"- a\nb: 1\n", "2:1", ErrorCode::ModelLoadFailed, ""},
        {"a: 1\nplain line\n", "2:1", ErrorCode::ModelLoadFailed, "expected 'key: value'"},
    };
    for (const auto& c : cases) {
        const auto e = parse_error(c.text);
        CAPTURE(c.text, e.message);
        CHECK(e.code == c.code);
        CHECK_THAT(e.message, Catch::StartsWith(std::string("t.yaml:") + c.where + ":"));
        CHECK_THAT(e.message, Catch::Contains(c.says));
    }
}

TEST_CASE("yaml_subset: a missing file is ModelNotFound", "[io]") {
    auto j = engine::io::read_yaml_file("/nonexistent/kinora/config.yaml");
    REQUIRE_FALSE(j.has_value());
    CHECK(j.error().code == ErrorCode::ModelNotFound);
    CHECK_THAT(j.error().message, Catch::Contains("/nonexistent/kinora/config.yaml"));
}
