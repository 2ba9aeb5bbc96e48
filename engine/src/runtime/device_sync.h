// Waiting for device work from the host without draining the whole stream, and copies to the host that do not stall
// the stream: what lets a sampler loop report progress and render previews while the GPU runs ahead of it.
//
//     runtime::StreamMarker done = runtime::StreamMarker::record(x.device());   // after everything queued so far
//     runtime::HostCopy copy = runtime::copy_to_host_async(x0.narrow(0, 0, 1));  // pinned memory, non-blocking
//     ...                                                                          // queue more work
//     if (copy.done.reached()) render(copy.host);                                 // never blocks
//     done.wait();                                                                 // blocks this thread only
//
// On a CUDA device a marker is an event recorded on the device's current stream. CPU tensors and builds without
// CUDA work synchronously: a marker is reached when it is made and a copy is complete when it returns.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>

namespace engine::runtime {

class StreamMarker {
public:
    /// An already reached marker.
    StreamMarker() = default;
    /// A marker behind everything queued so far on `device`'s current stream (CPU: reached at once).
    static StreamMarker record(c10::Device device);

    /// True once the device has done the work queued before the marker. Never blocks.
    bool reached() const;
    /// Blocks the calling thread until reached() (the device keeps running what was queued after the marker).
    void wait() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

/// A tensor on its way to host memory: `host` may be read once `done` is reached.
struct HostCopy {
    at::Tensor host;
    StreamMarker done;
};

/// A CUDA tensor: copies it into page-locked host memory on the current stream without waiting (the copy overlaps
/// the work queued after it). A CPU tensor: returned as it is, done. The source must not be written before `done`.
HostCopy copy_to_host_async(const at::Tensor& tensor);

}  // namespace engine::runtime
