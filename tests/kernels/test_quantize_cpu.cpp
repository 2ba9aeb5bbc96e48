// The CPU reference of the FP8 (e4m3fn) row-wise quantisation against the format's definition: every finite
// e4m3fn value enumerated from its fields, and each quantised element checked to be the nearest of them (ties to the
// even code) by a search written here. This reference is the oracle of the CUDA kernel's test (bit for bit).
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/ops.h"

namespace {

// e4m3fn from its fields: 1 sign bit, 4 exponent bits (bias 7), 3 mantissa bits; exponent 0 is subnormal
// (m · 2^-9); S.1111.111 is NaN; no infinities.
double e4m3_value(int code) {
    const int e = (code >> 3) & 15;
    const int m = code & 7;
    const double magnitude = e == 0 ? m * std::pow(2.0, -9) : (1.0 + m / 8.0) * std::pow(2.0, e - 7);
    return (code & 0x80) ? -magnitude : magnitude;
}

bool is_nan_code(int code) {
    return (code & 0x7f) == 0x7f;
}

// The code a correct round-to-nearest-even, saturating conversion gives for v (searching all finite codes).
int nearest_code(double v) {
    int best = -1;
    double best_distance = std::numeric_limits<double>::infinity();
    for (int code = 0; code < 256; ++code) {
        if (is_nan_code(code)) continue;
        if ((code & 0x80) != (std::signbit(v) ? 0x80 : 0)) continue;  // same sign (±0 keep theirs)
        const double d = std::fabs(e4m3_value(code) - v);
        // Nearer wins; at a tie the even code (mantissa's last bit 0).
        if (d < best_distance || (d == best_distance && (code & 1) == 0)) {
            best = code;
            best_distance = d;
        }
    }
    return best;
}

}  // namespace

TEST_CASE("e4m3_to_float: the format's values, NaN codes included", "[kernels]") {
    auto codes = torch::arange(256, torch::kLong).to(torch::kByte);
    auto values = kernels::e4m3_to_float(codes);
    REQUIRE(values.scalar_type() == torch::kFloat);
    for (int code = 0; code < 256; ++code) {
        INFO("code " << code);
        const float v = values[code].item<float>();
        if (is_nan_code(code)) {
            CHECK(std::isnan(v));
        } else {
            CHECK(static_cast<double>(v) == e4m3_value(code));
        }
    }
    CHECK(values[0x7e].item<float>() == 448.0f);  // the largest finite value
    CHECK(values[0x38].item<float>() == 1.0f);
}

TEST_CASE("quantize_rows_e4m3 (CPU): each value is the nearest e4m3fn of x · 448 / amax, ties to even",
          "[kernels]") {
    torch::manual_seed(7);
    const int64_t rows = 6, cols = 300;
    // A wide dynamic range (subnormal codes included), an all-zero row and a row of exact ties.
    auto x = torch::randn({rows, cols}) * torch::exp(torch::randn({rows, cols}) * 2.0);
    x[3].zero_();
    {
        // Row 4: amax 448 (so inv = 1), and midpoints between neighbouring codes: 1.0625 lies between 1.0 (0x38) and
        // 1.125 (0x39), so it rounds to the even 0x38; 1.1875 between 0x39 and 1.25 (0x3a) rounds to 0x3a.
        auto r = x[4];
        r.fill_(0.5);
        r[0] = 448.0;
        r[1] = 1.0625;
        r[2] = 1.1875;
        r[3] = -1.0625;
        r[4] = std::ldexp(1.0, -10);        // half the smallest subnormal: a tie between 0 and 0x01 → 0
        r[5] = 3.0 * std::ldexp(1.0, -10);  // between 0x01 and 0x02 → 0x02
    }
    x[5] = x[5] * 1e-30;  // tiny values: the scale follows them
    auto [q, scale] = kernels::quantize_rows_e4m3(x);
    REQUIRE(q.scalar_type() == torch::kByte);
    REQUIRE(q.sizes() == x.sizes());
    REQUIRE(scale.scalar_type() == torch::kFloat);
    REQUIRE(scale.sizes() == torch::IntArrayRef{rows});
    auto qa = q.accessor<uint8_t, 2>();
    auto xa = x.accessor<float, 2>();
    int mismatches = 0;
    for (int64_t r = 0; r < rows; ++r) {
        float amax = 0.0f;
        for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(xa[r][c]));
        amax = std::max(amax, 1e-12f);
        const float inv = 448.0f / amax;
        CHECK(scale[r].item<float>() == amax / 448.0f);
        for (int64_t c = 0; c < cols; ++c) {
            const int expected = nearest_code(static_cast<double>(xa[r][c] * inv));
            if (qa[r][c] != expected) {
                ++mismatches;
                UNSCOPED_INFO("row " << r << " col " << c << ": x " << xa[r][c] << " got " << int(qa[r][c])
                                     << " want " << expected);
            }
        }
    }
    CHECK(mismatches == 0);
    CHECK(qa[4][0] == 0x7e);
    CHECK(qa[4][1] == 0x38);
    CHECK(qa[4][2] == 0x3a);
    CHECK(qa[4][3] == 0xb8);
    CHECK(qa[4][4] == 0x00);
    CHECK(qa[4][5] == 0x02);
    // The all-zero row: zeros, the floor amax (no division by zero).
    CHECK(q[3].eq(0).all().item<bool>());
    CHECK(scale[3].item<float>() == 1e-12f / 448.0f);
    // Dequantised, every row is within half a step of e4m3 (relative 2^-4) of x, plus the subnormal floor.
    auto back = kernels::e4m3_to_float(q) * scale.unsqueeze(1);
    auto bound = x.abs() * (1.0 / 16) + scale.unsqueeze(1) * std::ldexp(1.0, -10);
    CHECK((back - x).abs().le(bound).all().item<bool>());
}

TEST_CASE("quantize_rows_e4m3 (CPU): half inputs, strided rows and bad arguments", "[kernels]") {
    torch::manual_seed(3);
    auto x = torch::randn({5, 64});
    for (auto dtype : {torch::kBFloat16, torch::kHalf, torch::kDouble}) {
        INFO(dtype);
        auto xd = x.to(dtype);
        auto [q, scale] = kernels::quantize_rows_e4m3(xd);
        auto [q_ref, scale_ref] = kernels::quantize_rows_e4m3(xd.to(torch::kFloat));
        CHECK(torch::equal(q, q_ref));
        CHECK(torch::equal(scale, scale_ref));
    }
    auto wide = torch::randn({5, 100});
    auto view = wide.slice(1, 10, 74);  // rows of 64 with a row stride of 100
    auto [qv, sv] = kernels::quantize_rows_e4m3(view);
    auto [qc, sc] = kernels::quantize_rows_e4m3(view.contiguous());
    CHECK(torch::equal(qv, qc));
    CHECK(torch::equal(sv, sc));
    CHECK_THROWS_WITH(kernels::quantize_rows_e4m3(torch::randn({4})), Catch::Contains("[M, K]"));
    CHECK_THROWS_WITH(kernels::quantize_rows_e4m3(torch::ones({2, 4}, torch::kInt)), Catch::Contains("floating"));
    CHECK_THROWS_WITH(kernels::quantize_rows_e4m3(torch::ones({2, 0})), Catch::Contains("empty"));
    CHECK_THROWS_WITH(kernels::e4m3_to_float(torch::ones({2})), Catch::Contains("uint8"));
}
