#include "media/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
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
    } else if (errno_value == EFBIG) {
        hint = " The file system or a size limit does not allow a file this large; choose another folder.";
    } else if (errno_value == EACCES || errno_value == EPERM || errno_value == EROFS) {
        hint = " Choose a folder you can write to.";
    } else if (errno_value == ENOENT || errno_value == ENOTDIR) {
        hint = " Check that the folder exists.";
    } else if (errno_value == ENOTEMPTY || errno_value == EEXIST) {
        hint = " Choose a new or empty folder.";
    }
    return Error{ErrorCode::IoError, "Cannot write " + path + ": " + std::strerror(errno_value) + "." + hint};
}

namespace {

std::string temp_path_for(const std::string& path) {
    static std::atomic<unsigned> counter{0};
    std::string base = path;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    return base + ".part-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// Removes a folder we created and the plain files in it (no recursion: we only ever write files there).
void remove_temp_folder(const std::string& dir) {
    if (DIR* d = ::opendir(dir.c_str())) {
        while (const dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name != "." && name != "..") std::remove((dir + "/" + name).c_str());
        }
        ::closedir(d);
    }
    ::rmdir(dir.c_str());
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

Expected<void> produce_folder_atomically(const std::string& path,
                                         const std::function<Expected<void>(const std::string& tmp_dir)>& write) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            return make_error(ErrorCode::IoError,
                              "Cannot write " + path + ": a file of that name exists. Choose a new or empty folder.");
        }
        bool empty = true;
        if (DIR* d = ::opendir(path.c_str())) {
            while (const dirent* e = ::readdir(d)) {
                const std::string name = e->d_name;
                if (name != "." && name != "..") {
                    empty = false;
                    break;
                }
            }
            ::closedir(d);
        }
        if (!empty) {
            return make_error(
                ErrorCode::IoError,
                "Cannot write " + path + ": the folder exists and is not empty. Choose a new or empty folder.");
        }
    }
    const std::string tmp = temp_path_for(path);
    if (::mkdir(tmp.c_str(), 0755) != 0) {
        return Unexpected{io_error_for(path, errno)};
    }
    Expected<void> r = write(tmp);
    if (!r) {
        remove_temp_folder(tmp);
        return r;
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        remove_temp_folder(tmp);
        return Unexpected{io_error_for(path, err)};
    }
    return {};
}

Expected<void> sync_file(const std::string& display_path, const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return Unexpected{io_error_for(display_path, errno)};
    }
    if (::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        return Unexpected{io_error_for(display_path, err)};
    }
    ::close(fd);
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
        if (::fsync(fd) != 0) {
            const int err = errno;
            ::close(fd);
            return Unexpected{io_error_for(path, err)};
        }
        if (::close(fd) != 0) {
            return Unexpected{io_error_for(path, errno)};
        }
        return {};
    });
}

}  // namespace engine::media
