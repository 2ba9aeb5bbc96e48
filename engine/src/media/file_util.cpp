#include "media/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace engine::media {

Error io_error_for(const std::string& path, int errno_value) {
    std::string hint;
    if (errno_value == ENOSPC || errno_value == EDQUOT) {
        hint = " Free some disk space or choose another folder.";
    } else if (errno_value == EACCES || errno_value == EPERM || errno_value == EROFS) {
        hint = " Choose a folder you can write to.";
    } else if (errno_value == ENOENT || errno_value == ENOTDIR) {
        hint = " Check that the folder exists.";
    }
    return Error{ErrorCode::IoError, "Cannot write " + path + ": " + std::strerror(errno_value) + "." + hint};
}

namespace {

std::string temp_path_for(const std::string& path) {
    static std::atomic<unsigned> counter{0};
    return path + ".part-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

}  // namespace

Expected<void> produce_file_atomically(const std::string& path,
                                       const std::function<Expected<void>(const std::string& tmp_path)>& write) {
    const std::string tmp = temp_path_for(path);
    Expected<void> r = write(tmp);
    if (!r) {
        std::remove(tmp.c_str());
        return r;
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        std::remove(tmp.c_str());
        return Unexpected{io_error_for(path, err)};
    }
    return {};
}

Expected<void> write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    return produce_file_atomically(path, [&](const std::string& tmp) -> Expected<void> {
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            return Unexpected{io_error_for(path, errno)};
        }
        std::size_t done = 0;
        while (done < bytes.size()) {
            ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                const int err = errno;
                ::close(fd);
                return Unexpected{io_error_for(path, err)};
            }
            done += static_cast<std::size_t>(n);
        }
        if (::fsync(fd) != 0 || ::close(fd) != 0) {
            return Unexpected{io_error_for(path, errno)};
        }
        return {};
    });
}

}  // namespace engine::media
