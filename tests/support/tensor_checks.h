// Tensor comparisons that explain themselves: on failure they report the max abs diff, where it is,
// both values there, both shapes and dtypes, not just "false".
//
//     REQUIRE_ALLCLOSE(actual, expected, /*rtol*/ 0, /*atol*/ 1e-4);
//     REQUIRE_MAXDIFF_REL(actual, expected, 1e-4);   // golden rule: max|a-b| <= tol * max(1, max|b|)
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace test_support {

struct CloseReport {
    bool ok = false;
    double max_abs_diff = 0.0;
    double max_abs_expected = 0.0;
    std::string summary;  // human-readable: shapes, dtypes, worst index and values
};

/// |a - b| <= atol + rtol * |b| elementwise (NaNs never match); shapes must be equal.
CloseReport allclose_report(const at::Tensor& actual, const at::Tensor& expected, double rtol, double atol);

/// max|a - b| <= tol * max(1, max|b|): the goldens README's rule for single modules.
CloseReport maxdiff_rel_report(const at::Tensor& actual, const at::Tensor& expected, double tol);

/// ||a - b||₂ / ||b||₂ <= tol: the relative error of reduced-precision runs (bf16/fp16 vs a float32 reference),
/// where a max-abs bound would only measure the single worst rounding.
CloseReport relative_l2_report(const at::Tensor& actual, const at::Tensor& expected, double tol);

}  // namespace test_support

#define REQUIRE_ALLCLOSE(actual, expected, rtol, atol)                                              \
    do {                                                                                            \
        const auto _kinora_report = ::test_support::allclose_report((actual), (expected), (rtol), (atol)); \
        INFO(_kinora_report.summary);                                                               \
        REQUIRE(_kinora_report.ok);                                                                 \
    } while (0)

#define CHECK_ALLCLOSE(actual, expected, rtol, atol)                                                \
    do {                                                                                            \
        const auto _kinora_report = ::test_support::allclose_report((actual), (expected), (rtol), (atol)); \
        INFO(_kinora_report.summary);                                                               \
        CHECK(_kinora_report.ok);                                                                   \
    } while (0)

#define REQUIRE_MAXDIFF_REL(actual, expected, tol)                                                  \
    do {                                                                                            \
        const auto _kinora_report = ::test_support::maxdiff_rel_report((actual), (expected), (tol)); \
        INFO(_kinora_report.summary);                                                               \
        REQUIRE(_kinora_report.ok);                                                                 \
    } while (0)

#define CHECK_MAXDIFF_REL(actual, expected, tol)                                                    \
    do {                                                                                            \
        const auto _kinora_report = ::test_support::maxdiff_rel_report((actual), (expected), (tol)); \
        INFO(_kinora_report.summary);                                                               \
        CHECK(_kinora_report.ok);                                                                   \
    } while (0)

#define CHECK_RELATIVE_L2(actual, expected, tol)                                                    \
    do {                                                                                            \
        const auto _kinora_report = ::test_support::relative_l2_report((actual), (expected), (tol)); \
        INFO(_kinora_report.summary);                                                               \
        CHECK(_kinora_report.ok);                                                                   \
    } while (0)
