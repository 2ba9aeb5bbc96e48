#include "support/cpu_memory.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <mutex>
#include <unordered_map>
#include <utility>

#include "core/torch_compat.h"

namespace test_support {
namespace {

// Every live allocation: the inner allocator's DataPtr and its size, by data pointer. The DataPtr handed
// out has the data pointer as its context, as Allocator::raw_allocate requires (oneDNN and some ATen
// kernels allocate their buffers that way), so the bookkeeping lives here.
struct Registry {
    std::mutex mutex;
    std::unordered_map<void*, std::pair<c10::DataPtr, std::size_t>> live;
};

Registry& registry() {
    static auto* r = new Registry;  // never destroyed: tensors may be freed during static destruction
    return *r;
}

class CountingAllocator : public engine::core::AllocatorBase {
public:
    CountingAllocator(c10::Allocator* inner, CpuMemoryMeter* meter) : inner_(inner), meter_(meter) {}

    c10::DeleterFnPtr raw_deleter() const override { return &count_free; }

protected:
    c10::DataPtr allocate_bytes(size_t n) const override {
        if (!meter_->add(n)) {
            TORCH_CHECK_WITH(OutOfMemoryError, false, "CPU memory limit of the test: not enough memory: you tried to ",
                             "allocate ", n, " bytes with ", meter_->current_bytes(), " bytes in use.");
        }
        c10::DataPtr inner;
        try {
            inner = inner_->allocate(n);
        } catch (...) {
            meter_->remove(n);
            throw;
        }
        void* data = inner.get();
        if (data == nullptr) {  // n == 0: nothing to count or free
            meter_->remove(n);
            return inner;
        }
        {
            std::lock_guard<std::mutex> lock(registry().mutex);
            registry().live.emplace(data, std::make_pair(std::move(inner), n));
        }
        return {data, data, &count_free, c10::Device(c10::DeviceType::CPU)};
    }

private:
    static void count_free(void* data) {
        std::pair<c10::DataPtr, std::size_t> entry;
        {
            std::lock_guard<std::mutex> lock(registry().mutex);
            auto it = registry().live.find(data);
            if (it == registry().live.end()) return;  // not ours (cannot happen: only our DataPtrs call this)
            entry = std::move(it->second);
            registry().live.erase(it);
        }
        CpuMemoryMeter::install().remove(entry.second);
        // entry.first (the inner DataPtr) frees the memory here, outside the lock.
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
