// Counts the bytes LibTorch holds in CPU tensors, to measure peaks and to play a machine with less memory.
//
//     test_support::CpuMemoryMeter& meter = test_support::CpuMemoryMeter::install();
//     meter.reset_peak();
//     run();
//     std::size_t peak = meter.peak_bytes() - meter.baseline_bytes();   // what run() added at its worst
//     { auto cap = meter.limit_to(meter.current_bytes() + budget); run(); }   // allocations past it throw OOM
//
// install() puts a counting wrapper around LibTorch's CPU allocator for the rest of the process (a pass
// through otherwise). It sees every CPU tensor's storage (ATen allocates them all through it); memory that
// libraries allocate on their own (oneDNN scratch pads, BLAS buffers) is not counted.
#pragma once

#include <atomic>
#include <cstddef>

namespace test_support {

class CpuMemoryMeter {
public:
    static CpuMemoryMeter& install();

    std::size_t current_bytes() const { return current_.load(); }
    std::size_t peak_bytes() const { return peak_.load(); }
    /// The bytes held when reset_peak() last ran.
    std::size_t baseline_bytes() const { return baseline_.load(); }
    /// Starts a new measurement: peak = baseline = current.
    void reset_peak();

    /// While the returned guard lives, an allocation that would take current_bytes() past `bytes` throws
    /// c10::OutOfMemoryError ("not enough memory"), as an allocator of a smaller machine would.
    class Limit {
    public:
        explicit Limit(CpuMemoryMeter& m) : meter_(m) {}
        ~Limit() { meter_.limit_.store(0); }
        Limit(const Limit&) = delete;
        Limit& operator=(const Limit&) = delete;

    private:
        CpuMemoryMeter& meter_;
    };
    [[nodiscard]] Limit limit_to(std::size_t bytes);

    // Called by the allocator wrapper.
    bool add(std::size_t n);  // false when the limit forbids it
    void remove(std::size_t n) { current_.fetch_sub(n); }

private:
    std::atomic<std::size_t> current_{0}, peak_{0}, baseline_{0}, limit_{0};
};

}  // namespace test_support
