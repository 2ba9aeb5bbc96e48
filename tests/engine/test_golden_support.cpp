// The golden-case loader itself: cases load, io tensors match INDEX.json, missing things fail loudly.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include "support/golden_case.h"
#include "support/tensor_checks.h"

TEST_CASE("golden: every io tensor listed in INDEX.json loads with its dtype and shape", "[io]") {
    auto index = test_support::GoldenCase::load("dcae_tiny");  // also checks the folder exists
    const std::vector<std::string> cases = {"dcae_tiny", "gemma2_tiny", "sana_pipeline_tiny", "vc2_pipeline_tiny"};
    for (const auto& name : cases) {
        auto gc = test_support::GoldenCase::load(name);
        REQUIRE_FALSE(gc.io_tensors().empty());
        CAPTURE(name);
        CHECK(gc.io_tensors().size() >= 2);
    }
}

TEST_CASE("golden: a missing case, file or tensor throws instead of passing", "[io]") {
    REQUIRE_THROWS_WITH(test_support::GoldenCase::load("no_such_case"), Catch::Contains("missing"));
    auto gc = test_support::GoldenCase::load("dcae_tiny");
    REQUIRE_THROWS_WITH(gc.io("no_such_tensor"), Catch::Contains("has no io tensor"));
    REQUIRE_THROWS_WITH(gc.file("nope.bin"), Catch::Contains("has no file"));
}

TEST_CASE("tensor checks: report the max difference and where it is", "[io]") {
    auto a = at::zeros({2, 3});
    auto b = at::zeros({2, 3});
    b[1][2] = 0.5;
    auto r = test_support::allclose_report(a, b, 0.0, 1e-3);
    CHECK_FALSE(r.ok);
    CHECK(r.max_abs_diff == Approx(0.5));
    CHECK_THAT(r.summary, Catch::Contains("[1, 2]"));
    CHECK(test_support::allclose_report(a, a, 0.0, 0.0).ok);
    CHECK_FALSE(test_support::allclose_report(a, at::zeros({3, 2}), 1, 1).ok);
    auto rel = test_support::maxdiff_rel_report(a, b, 1e-4);
    CHECK_FALSE(rel.ok);
    CHECK(test_support::maxdiff_rel_report(b * 1000 + 1e-2, b * 1000, 1e-4).ok);  // limit scales with max|ref|=500
}
