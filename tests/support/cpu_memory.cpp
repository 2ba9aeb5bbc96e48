#include "support/cpu_memory.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <mutex>

#include "core/torch_compat.h"

namespace test_support {
namespace {

// The storage handed out: the inner allocator's DataPtr plus its size, freed through count_free.
struct Counted {
    c10::DataPtr inner;
    std::size_t bytes;
};

class CountingAllocator : public engine::core::AllocatorBase {
public:
    CountingAllocator(c10::Allocator* inner, CpuMemoryMeter* meter) : inner_(inner), meter_(meter) {}

protected:
    c10::DataPtr allocate_bytes(size_t n) const override {
        if (!meter_->add(n)) {
            TORCH_CHECK_WITH(OutOfMemoryError, false, "CPU memory limit of the test: not enough memory: you tried to ",
                             "allocate ", n, " bytes with ", meter_->current_bytes(), " bytes in use.");
        }
        auto* counted = new Counted{inner_->allocate(n), n};
        void* data = counted->inner.get();
        return {data, counted, &count_free, c10::Device(c10::DeviceType::CPU)};
    }

private:
    static void count_free(void* ctx) {
        auto* counted = static_cast<Counted*>(ctx);
        CpuMemoryMeter::install().remove(counted->bytes);
        delete counted;
    }

    c10::Allocator* inner_;
    CpuMemoryMeter* meter_;
};

}  // namespace

CpuMemoryMeter& CpuMemoryMeter::install() {
    static CpuMemoryMeter meter;
    static std::once_flag once;
    std::call_once(once, [] {
        static CountingAllocator allocator(c10::GetCPUAllocator(), &meter);
        // Priority above the default registration (0), so ATen's CPU tensors come here from now on.
        c10::SetCPUAllocator(&allocator, /*priority=*/1);
    });
    return meter;
}

void CpuMemoryMeter::reset_peak() {
    const std::size_t now = current_.load();
    baseline_.store(now);
    peak_.store(now);
}

CpuMemoryMeter::Limit CpuMemoryMeter::limit_to(std::size_t bytes) {
    limit_.store(bytes);
    return Limit(*this);
}

bool CpuMemoryMeter::add(std::size_t n) {
    const std::size_t cap = limit_.load();
    std::size_t now = current_.load();
    do {
        if (cap != 0 && now + n > cap) return false;
    } while (!current_.compare_exchange_weak(now, now + n));
    now += n;
    std::size_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    return true;
}

}  // namespace test_support
