// Error codes and Expected<T>, the engine's only way to report failure across its public API.
//
//     engine::Expected<engine::Image> img = engine::read_image("photo.jpg");
//     if (!img) { show(img.error().message); return; }
//     use(img.value());
//
// Thread safety: plain value types; no shared state.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace engine {

/// What went wrong, coarse enough for the UI to pick a hint. 0 is never a real outcome.
enum class ErrorCode {
    None = 0,
    InvalidRequest,     // bad parameters (size, steps, prompt too long, ...)
    ModelNotFound,      // a path or a required file does not exist
    ModelLoadFailed,    // a file exists but is corrupt, truncated or inconsistent
    UnsupportedModel,   // a valid file of a model type Kinora cannot run (or not for this task)
    OutOfMemory,        // host or device allocation failed
    DeviceUnavailable,  // CUDA asked for but absent, or the build lacks it
    IoError,            // reading or writing a user file failed (permissions, full disk, ...)
    Internal,           // a bug: anything not classified above
};

/// Stable lower-case name, e.g. "out_of_memory".
const char* to_string(ErrorCode code) noexcept;

/// A failure: a code plus a message that names the file, key or tensor and says what to do.
struct Error {
    ErrorCode code = ErrorCode::Internal;
    std::string message;
};

/// Wrapper returned by make_error(); converts into any Expected<T>.
struct Unexpected {
    Error error;
};

/// Builds the error side of an Expected.
inline Unexpected make_error(ErrorCode code, std::string message) { return Unexpected{Error{code, std::move(message)}}; }

/// A value or an Error; the shape of C++23 std::expected, so it can be swapped later.
template <typename T>
class Expected {
public:
    Expected(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design, like std::expected
    Expected(Unexpected u) : error_(std::move(u.error)) {}  // NOLINT

    bool has_value() const noexcept { return value_.has_value(); }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & {
        assert(has_value());
        return *value_;
    }
    const T& value() const& {
        assert(has_value());
        return *value_;
    }
    T&& value() && {
        assert(has_value());
        return std::move(*value_);
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const& {
        assert(!has_value());
        return error_;
    }

private:
    std::optional<T> value_;
    Error error_;
};

/// Expected<void>: success or an Error.
template <>
class Expected<void> {
public:
    Expected() = default;
    Expected(Unexpected u) : ok_(false), error_(std::move(u.error)) {}  // NOLINT

    bool has_value() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    const Error& error() const& {
        assert(!ok_);
        return error_;
    }

private:
    bool ok_ = true;
    Error error_;
};

}  // namespace engine
