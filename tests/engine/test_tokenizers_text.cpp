// The text helpers behind the CLIP tokenizer's cleaning: checked against CPython's own results
// (tests/fixtures/tokenizers/text_cases.json, see its README) and against the examples ftfy's authors
// state in ftfy's tests and docstrings (rspeer/python-ftfy tests/test_entities.py, tests/test_characters.py,
// ftfy/fixes.py, ftfy/__init__.py).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "core/json.h"
#include "tokenizers/clip_text_clean.h"
#include "tokenizers/text_unicode.h"

using namespace engine::tokenizers;

namespace {

std::u32string u32(const std::string& utf8) {
    std::u32string out;
    REQUIRE(decode_utf8(utf8, out));
    return out;
}

// The fixture lives in the source tree: $KINORA_SOURCE_DIR, else found from this file's own path
// (ctest passes only the first entry of KINORA_TEST_ENV through catch_discover_tests).
std::filesystem::path fixtures_dir() {
    if (const char* src = std::getenv("KINORA_SOURCE_DIR"); src != nullptr && *src != '\0') {
        return std::filesystem::path(src) / "tests" / "fixtures";
    }
    return std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures";
}

nlohmann::json text_cases() {
    const auto path = fixtures_dir() / "tokenizers" / "text_cases.json";
    INFO("fixture: " << path.string());
    auto json = engine::core::read_json_file(path.string());
    REQUIRE(json.has_value());
    return json.value();
}

template <typename Fn>
void check_cases(const nlohmann::json& cases, Fn fn) {
    REQUIRE(cases.is_array());
    REQUIRE_FALSE(cases.empty());
    for (const auto& c : cases) {
        const std::string input = c["input"].get<std::string>();
        const std::string expected = c["expected"].get<std::string>();
        const std::string actual = encode_utf8(fn(u32(input)));
        CAPTURE(input, expected, actual);
        CHECK(actual == expected);
    }
}

std::string fix_text(const std::string& utf8) {
    return encode_utf8(ftfy_fix_text(u32(utf8)));
}

}  // namespace

TEST_CASE("text helpers: html.unescape, NFC, str.lower, str.strip as CPython computes them", "[tokenizers]") {
    const auto cases = text_cases();
    INFO("fixture from Python " << cases["python"].get<std::string>() << ", Unicode "
                                << cases["unicode"].get<std::string>());
    SECTION("html.unescape") {
        check_cases(cases["html_unescape"], [](const std::u32string& s) { return html_unescape(s); });
    }
    SECTION("unicodedata.normalize NFC") {
        check_cases(cases["nfc"], [](const std::u32string& s) { return nfc(s); });
    }
    SECTION("str.lower") {
        check_cases(cases["lower"], [](const std::u32string& s) { return python_lower(s); });
    }
    SECTION("str.strip") {
        check_cases(cases["strip"], [](const std::u32string& s) { return std::u32string(python_strip(s)); });
    }
}

TEST_CASE("text helpers: ftfy.fix_text on ftfy's own examples", "[tokenizers]") {
    // tests/test_entities.py
    CHECK(fix_text("&amp;\n<html>\n&amp;") == "&\n<html>\n&amp;");
    CHECK(fix_text("&lt;&gt;") == "<>");
    CHECK(fix_text("jednocze&sacute;nie") == "jednocze\xC5\x9Bnie");
    CHECK(fix_text("JEDNOCZE&Sacute;NIE") == "JEDNOCZE\xC5\x9ANIE");
    CHECK(fix_text("broken&#x81;") == "broken\xC2\x81");
    CHECK(fix_text("&amp;amp;amp;") == "&");
    CHECK(fix_text("euro &#x80;") == "euro \xE2\x82\xAC");
    CHECK(fix_text("EURO &EURO;") == "EURO \xE2\x82\xAC");
    CHECK(fix_text("not an entity &#20x6;") == "not an entity &#20x6;");
    CHECK(fix_text("JEDNOCZE&SACUTE;NIE") == "JEDNOCZE\xC5\x9ANIE");
    CHECK(fix_text("V&SCARON;ICHNI") == "V\xC5\xA0ICHNI");
    CHECK(fix_text("&#xffff;").empty());
    CHECK(fix_text("&#xffffffff;") == "\xEF\xBF\xBD");
    CHECK(fix_text("this is just informal english &not html") == "this is just informal english &not html");
    // ftfy/fixes.py docstrings
    CHECK(fix_text("&lt;tag&gt;") == "<tag>");
    CHECK(fix_text("&Jscr;ohn &HilbertSpace;ancock") ==
          "\xF0\x9D\x92\xA5ohn \xE2\x84\x8B"
          "ancock");
    CHECK(fix_text("&checkmark;") == "\xE2\x9C\x93");
    CHECK(fix_text("P&eacute;rez") == "P\xC3\xA9rez");
    CHECK(fix_text("P&EACUTE;REZ") == "P\xC3\x89REZ");
    CHECK(fix_text("BUNDESSTRA&SZLIG;E") == "BUNDESSTRASSE");
    CHECK(fix_text("&ntilde; &Ntilde; &NTILDE; &nTILDE;") == "\xC3\xB1 \xC3\x91 \xC3\x91 &nTILDE;");
    CHECK(fix_text("\x1b[36;44mI'm blue, da ba dee da ba doo...\x1b[0m") == "I'm blue, da ba dee da ba doo...");
    CHECK(fix_text("\xE2\x80\x9Chere\xE2\x80\x99s a test\xE2\x80\x9D") == "\"here's a test\"");
    CHECK(fix_text("\xEF\xAC\x82u\xEF\xAC\x83"
                   "e\xEF\xAC\x86") == "fluffiest");
    CHECK(fix_text("\xEF\xBC\xAC\xEF\xBC\xAF\xEF\xBC\xB5\xEF\xBC\xA4\xE3\x80\x80\xEF\xBC\xAE\xEF\xBC\xAF\xEF\xBC\xA9"
                   "\xEF\xBC\xB3\xEF\xBC\xA5\xEF\xBC\xB3") == "LOUD NOISES");
    CHECK(fix_text("\xEF\xBC\xB5\xEF\xBE\x80\xEF\xBD\xB0\xEF\xBE\x9D") == "U\xE3\x82\xBF\xE3\x83\xBC\xE3\x83\xB3");
    CHECK(fix_text("Content-type: text/plain\r\n\r\nHi.") == "Content-type: text/plain\n\nHi.");
    CHECK(fix_text("This is how Microsoft \r trolls Mac users") == "This is how Microsoft \n trolls Mac users");
    // tests/test_characters.py
    CHECK(fix_text("\x01\x1b[36;44mfoo") == "foo");
    const std::string ohio =
        "#superman #ohio "
        "\xF0\x9F\x8F\xB4\xF3\xA0\x81\xB5\xF3\xA0\x81\xB3\xF3\xA0\x81\xAF\xF3\xA0\x81\xA8\xF3\xA0\x81\xBF"
        " #cleveland #usa \xF0\x9F\x87\xBA\xF0\x9F\x87\xB8";
    CHECK(fix_text(ohio) == ohio);
}

TEST_CASE("text helpers: UTF-8 decoding rejects malformed input", "[tokenizers]") {
    std::u32string out;
    std::size_t offset = 0;
    CHECK(decode_utf8("ok \xE6\x9D\xB1", out));
    CHECK(out == U"ok \u6771");
    CHECK_FALSE(decode_utf8("ab\xC3", out, &offset));  // truncated
    CHECK(offset == 2);
    CHECK_FALSE(decode_utf8("\xC0\xAF", out));          // overlong '/'
    CHECK_FALSE(decode_utf8("\xED\xA0\x80", out));      // surrogate
    CHECK_FALSE(decode_utf8("\xF4\x90\x80\x80", out));  // past U+10FFFF
    CHECK_FALSE(decode_utf8("\x80", out));              // stray continuation byte
    CHECK(encode_utf8(U"\U0001F642 \u00e9") == "\xF0\x9F\x99\x82 \xC3\xA9");
}
