#include "support/tensor_checks.h"

#include <cmath>
#include <sstream>

namespace test_support {
namespace {

std::string index_string(const at::IntArrayRef& sizes, int64_t flat) {
    std::vector<int64_t> idx(sizes.size());
    for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
        const int64_t s = sizes[static_cast<size_t>(d)];
        idx[static_cast<size_t>(d)] = s > 0 ? flat % s : 0;
        flat = s > 0 ? flat / s : 0;
    }
    std::ostringstream os;
    os << "[";
    for (size_t i = 0; i < idx.size(); ++i) os << (i ? ", " : "") << idx[i];
    os << "]";
    return os.str();
}

// Common part: shapes, NaNs, max diff and its location.
CloseReport compare(const at::Tensor& actual_in, const at::Tensor& expected_in, double rtol, double atol,
                    bool relative_to_max) {
    CloseReport r;
    std::ostringstream os;
    os << "actual " << actual_in.sizes() << " " << actual_in.scalar_type() << ", expected " << expected_in.sizes()
       << " " << expected_in.scalar_type();
    if (actual_in.sizes() != expected_in.sizes()) {
        os << ": shapes differ";
        r.summary = os.str();
        return r;
    }
    const at::Tensor a = actual_in.detach().to(at::kCPU, at::kDouble).contiguous();
    const at::Tensor b = expected_in.detach().to(at::kCPU, at::kDouble).contiguous();
    if (a.numel() == 0) {
        r.ok = true;
        r.summary = os.str() + ": empty";
        return r;
    }
    const at::Tensor diff = (a - b).abs();
    const int64_t nan_a = a.isnan().sum().item<int64_t>();
    const int64_t nan_b = b.isnan().sum().item<int64_t>();
    const at::Tensor diff_nonan = at::nan_to_num(diff, std::numeric_limits<double>::infinity());
    const int64_t worst = diff_nonan.flatten().argmax().item<int64_t>();
    r.max_abs_diff = diff_nonan.flatten()[worst].item<double>();
    r.max_abs_expected = at::nan_to_num(b.abs(), 0.0).max().item<double>();
    const double av = a.flatten()[worst].item<double>();
    const double bv = b.flatten()[worst].item<double>();
    if (relative_to_max) {
        const double limit = atol * std::max(1.0, r.max_abs_expected);
        r.ok = nan_a == 0 && nan_b == 0 && r.max_abs_diff <= limit;
        os << "; max abs diff " << r.max_abs_diff << " (limit " << limit << " = " << atol << " x max(1, "
           << r.max_abs_expected << "))";
    } else {
        const at::Tensor bad = diff_nonan > (atol + rtol * b.abs());
        const int64_t num_bad = bad.sum().item<int64_t>();
        r.ok = nan_a == 0 && nan_b == 0 && num_bad == 0;
        os << "; max abs diff " << r.max_abs_diff << ", " << num_bad << " of " << a.numel()
           << " elements outside atol " << atol << " + rtol " << rtol << " x |expected|";
    }
    os << "; worst at " << index_string(actual_in.sizes(), worst) << ": actual " << av << ", expected " << bv;
    if (nan_a || nan_b) os << "; NaNs: actual " << nan_a << ", expected " << nan_b;
    os << "; max |expected| " << r.max_abs_expected;
    r.summary = os.str();
    return r;
}

}  // namespace

CloseReport allclose_report(const at::Tensor& actual, const at::Tensor& expected, double rtol, double atol) {
    return compare(actual, expected, rtol, atol, false);
}

CloseReport relative_l2_report(const at::Tensor& actual, const at::Tensor& expected, double tol) {
    CloseReport r = compare(actual, expected, 0.0, std::numeric_limits<double>::infinity(), true);
    if (actual.sizes() != expected.sizes()) return r;
    const at::Tensor a = actual.detach().to(at::kCPU, at::kDouble);
    const at::Tensor b = expected.detach().to(at::kCPU, at::kDouble);
    const double denom = b.norm().item<double>();
    const double rel = (a - b).norm().item<double>() / (denom > 0.0 ? denom : 1.0);
    r.ok = std::isfinite(rel) && rel <= tol;
    std::ostringstream os;
    os << "relative L2 error " << rel << " (limit " << tol << "); " << r.summary;
    r.summary = os.str();
    return r;
}

CloseReport maxdiff_rel_report(const at::Tensor& actual, const at::Tensor& expected, double tol) {
    return compare(actual, expected, 0.0, tol, true);
}

}  // namespace test_support
