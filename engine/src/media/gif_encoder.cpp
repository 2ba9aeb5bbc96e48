// GIF89a encoding (spec: https://www.w3.org/Graphics/GIF/spec-gif89a.txt): palette, dithering, LZW.
#include "media/gif_encoder.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

namespace engine::media {
namespace {

// ---- palette -----------------------------------------------------------------------------------

struct Bin {
    double count = 0;
    double mean[3] = {0, 0, 0};
};

struct Box {
    std::size_t begin = 0;
    std::size_t end = 0;
    double sse = 0;  // sum over bins of count * |mean - box mean|^2
};

double box_sse(const std::vector<Bin>& bins, std::size_t begin, std::size_t end) {
    double n = 0, s[3] = {0, 0, 0}, q = 0;
    for (std::size_t i = begin; i < end; ++i) {
        const Bin& b = bins[i];
        n += b.count;
        for (int c = 0; c < 3; ++c) {
            s[c] += b.count * b.mean[c];
            q += b.count * b.mean[c] * b.mean[c];
        }
    }
    if (n <= 0) return 0;
    return q - (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]) / n;
}

// Sorts the box's bins along its widest channel and splits where the halves' squared error is smallest.
// Returns the split index, or begin when the box cannot be split.
std::size_t split_box(std::vector<Bin>& bins, const Box& box) {
    if (box.end - box.begin < 2) return box.begin;
    double lo[3] = {1e9, 1e9, 1e9}, hi[3] = {-1e9, -1e9, -1e9};
    for (std::size_t i = box.begin; i < box.end; ++i) {
        for (int c = 0; c < 3; ++c) {
            lo[c] = std::min(lo[c], bins[i].mean[c]);
            hi[c] = std::max(hi[c], bins[i].mean[c]);
        }
    }
    int axis = 0;
    for (int c = 1; c < 3; ++c) {
        if (hi[c] - lo[c] > hi[axis] - lo[axis]) axis = c;
    }
    const auto first = bins.begin() + static_cast<std::ptrdiff_t>(box.begin);
    const auto last = bins.begin() + static_cast<std::ptrdiff_t>(box.end);
    std::stable_sort(first, last, [axis](const Bin& a, const Bin& b) { return a.mean[axis] < b.mean[axis]; });
    // Prefix sums for O(n) evaluation of every split position.
    double tn = 0, ts[3] = {0, 0, 0}, tq = 0;
    for (std::size_t i = box.begin; i < box.end; ++i) {
        tn += bins[i].count;
        for (int c = 0; c < 3; ++c) {
            ts[c] += bins[i].count * bins[i].mean[c];
            tq += bins[i].count * bins[i].mean[c] * bins[i].mean[c];
        }
    }
    double ln = 0, ls[3] = {0, 0, 0}, lq = 0;
    double best = std::numeric_limits<double>::infinity();
    std::size_t best_at = box.begin + 1;
    for (std::size_t i = box.begin; i + 1 < box.end; ++i) {
        ln += bins[i].count;
        for (int c = 0; c < 3; ++c) {
            ls[c] += bins[i].count * bins[i].mean[c];
            lq += bins[i].count * bins[i].mean[c] * bins[i].mean[c];
        }
        const double rn = tn - ln;
        const double rs[3] = {ts[0] - ls[0], ts[1] - ls[1], ts[2] - ls[2]};
        const double left = lq - (ls[0] * ls[0] + ls[1] * ls[1] + ls[2] * ls[2]) / ln;
        const double right = (tq - lq) - (rs[0] * rs[0] + rs[1] * rs[1] + rs[2] * rs[2]) / rn;
        if (left + right < best) {
            best = left + right;
            best_at = i + 1;
        }
    }
    return best_at;
}

std::array<std::uint8_t, 3> to_color(const double c[3]) {
    std::array<std::uint8_t, 3> out{};
    for (int k = 0; k < 3; ++k) {
        out[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(std::clamp(std::lround(c[k]), 0L, 255L));
    }
    return out;
}

int nearest(const std::vector<std::array<std::uint8_t, 3>>& palette, double r, double g, double b) {
    int best = 0;
    double best_d = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < palette.size(); ++i) {
        const double dr = r - palette[i][0], dg = g - palette[i][1], db = b - palette[i][2];
        const double d = dr * dr + dg * dg + db * db;
        if (d < best_d) {
            best_d = d;
            best = static_cast<int>(i);
        }
    }
    return best;
}

std::uint32_t pack(const std::uint8_t* p) {
    return (static_cast<std::uint32_t>(p[0]) << 16) | (static_cast<std::uint32_t>(p[1]) << 8) | p[2];
}

// ---- pixel → palette index ------------------------------------------------------------------------

class ColorMapper {
public:
    explicit ColorMapper(const GifPalette& palette) : palette_(palette.colors), exact_(palette.exact) {
        if (exact_) {
            for (std::size_t i = 0; i < palette_.size(); ++i)
                exact_index_[pack(palette_[i].data())] = static_cast<std::uint8_t>(i);
        } else {
            cache_.assign(std::size_t{1} << 21, -1);  // 7 bits per channel
        }
    }

    // Index for a colour in [0, 255] (not necessarily integer when dithering).
    std::uint8_t map(int r, int g, int b) {
        if (exact_) {
            const std::uint8_t p[3] = {static_cast<std::uint8_t>(r), static_cast<std::uint8_t>(g),
                                       static_cast<std::uint8_t>(b)};
            auto it = exact_index_.find(pack(p));
            if (it != exact_index_.end()) return it->second;
            return static_cast<std::uint8_t>(nearest(palette_, r, g, b));
        }
        const std::size_t key = (static_cast<std::size_t>(r >> 1) << 14) | (static_cast<std::size_t>(g >> 1) << 7) |
                                static_cast<std::size_t>(b >> 1);
        if (cache_[key] < 0) {
            cache_[key] = static_cast<std::int16_t>(nearest(palette_, (r & ~1) + 0.5, (g & ~1) + 0.5, (b & ~1) + 0.5));
        }
        return static_cast<std::uint8_t>(cache_[key]);
    }

    const std::array<std::uint8_t, 3>& color(std::uint8_t i) const { return palette_[i]; }

private:
    const std::vector<std::array<std::uint8_t, 3>>& palette_;
    bool exact_;
    std::unordered_map<std::uint32_t, std::uint8_t> exact_index_;
    std::vector<std::int16_t> cache_;
};

std::vector<std::uint8_t> quantize_frame(const Image& frame, ColorMapper& mapper, bool dither) {
    const int w = frame.width;
    const int h = frame.height;
    std::vector<std::uint8_t> out(static_cast<std::size_t>(w) * static_cast<std::size_t>(h));
    if (!dither) {
        for (std::size_t i = 0; i < out.size(); ++i) {
            const std::uint8_t* p = frame.pixels.data() + i * 3;
            out[i] = mapper.map(p[0], p[1], p[2]);
        }
        return out;
    }
    // Floyd-Steinberg with serpentine scanning. Two rows of errors (current, next) in one buffer, with a
    // one-pixel margin on both sides.
    const std::size_t row = static_cast<std::size_t>(w + 2) * 3;
    std::vector<float> errors(2 * row, 0.f);
    for (int y = 0; y < h; ++y) {
        float* cur = errors.data() + static_cast<std::size_t>(y % 2) * row;
        float* next = errors.data() + static_cast<std::size_t>((y + 1) % 2) * row;
        std::fill(next, next + row, 0.f);
        const bool ltr = (y % 2) == 0;
        const int dir = ltr ? 1 : -1;
        for (int k = 0; k < w; ++k) {
            const int x = ltr ? k : w - 1 - k;
            const std::size_t i =
                static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x);
            const std::uint8_t* p = frame.pixels.data() + i * 3;
            const float* e = cur + static_cast<std::ptrdiff_t>(x + 1) * 3;
            int v[3];
            for (int c = 0; c < 3; ++c) {
                v[c] = static_cast<int>(std::lround(std::clamp(p[c] + e[c], 0.f, 255.f)));
            }
            const std::uint8_t idx = mapper.map(v[0], v[1], v[2]);
            out[i] = idx;
            const auto& q = mapper.color(idx);
            for (int c = 0; c < 3; ++c) {
                const float err = static_cast<float>(v[c] - q[static_cast<std::size_t>(c)]);
                cur[(x + 1 + dir) * 3 + c] += err * (7.f / 16.f);
                next[(x + 1 - dir) * 3 + c] += err * (3.f / 16.f);
                next[(x + 1) * 3 + c] += err * (5.f / 16.f);
                next[(x + 1 + dir) * 3 + c] += err * (1.f / 16.f);
            }
        }
    }
    return out;
}

// ---- LZW ----------------------------------------------------------------------------------------

class BitWriter {
public:
    explicit BitWriter(std::vector<std::uint8_t>& out) : out_(out) {}
    void put(unsigned code, int bits) {
        acc_ |= static_cast<std::uint64_t>(code) << nbits_;
        nbits_ += bits;
        while (nbits_ >= 8) {
            byte(static_cast<std::uint8_t>(acc_ & 0xFF));
            acc_ >>= 8;
            nbits_ -= 8;
        }
    }
    void finish() {
        if (nbits_ > 0) byte(static_cast<std::uint8_t>(acc_ & 0xFF));
        acc_ = 0;
        nbits_ = 0;
        flush_block();
        out_.push_back(0);  // block terminator
    }

private:
    void byte(std::uint8_t b) {
        block_.push_back(b);
        if (block_.size() == 255) flush_block();
    }
    void flush_block() {
        if (block_.empty()) return;
        out_.push_back(static_cast<std::uint8_t>(block_.size()));
        out_.insert(out_.end(), block_.begin(), block_.end());
        block_.clear();
    }
    std::vector<std::uint8_t>& out_;
    std::vector<std::uint8_t> block_;
    std::uint64_t acc_ = 0;
    int nbits_ = 0;
};

// LZW with 8-bit roots: clear = 256, end = 257, codes up to 12 bits; a full table emits a clear.
void lzw_encode(const std::vector<std::uint8_t>& indices, std::vector<std::uint8_t>& out) {
    constexpr unsigned kClear = 256, kEnd = 257, kMaxCode = 4096;
    out.push_back(8);  // LZW minimum code size
    BitWriter bits(out);
    // Open-addressing table: key = prefix << 8 | byte → code.
    constexpr std::size_t kTableSize = 1 << 14;
    std::vector<std::uint32_t> keys(kTableSize);
    std::vector<std::uint16_t> codes(kTableSize);
    std::vector<std::uint8_t> used(kTableSize, 0);
    unsigned next_code = 258;
    int code_size = 9;
    bits.put(kClear, code_size);
    if (indices.empty()) {
        bits.put(kEnd, code_size);
        bits.finish();
        return;
    }
    unsigned prefix = indices[0];
    for (std::size_t i = 1; i < indices.size(); ++i) {
        const std::uint8_t k = indices[i];
        const std::uint32_t key = (static_cast<std::uint32_t>(prefix) << 8) | k;
        std::size_t slot = (key * 2654435761u) & (kTableSize - 1);
        while (used[slot] && keys[slot] != key) slot = (slot + 1) & (kTableSize - 1);
        if (used[slot]) {
            prefix = codes[slot];
            continue;
        }
        bits.put(prefix, code_size);
        used[slot] = 1;
        keys[slot] = key;
        codes[slot] = static_cast<std::uint16_t>(next_code++);
        // The decoder adds each entry one code later than we do, so it widens its codes when its table
        // reaches 2^size, i.e. when ours has one entry more.
        if (next_code > (1u << code_size) && code_size < 12) ++code_size;
        if (next_code >= kMaxCode) {
            bits.put(kClear, code_size);
            std::fill(used.begin(), used.end(), 0);
            next_code = 258;
            code_size = 9;
        }
        prefix = k;
    }
    bits.put(prefix, code_size);
    bits.put(kEnd, code_size);
    bits.finish();
}

void put_u16(std::vector<std::uint8_t>& out, unsigned v) {
    out.push_back(static_cast<std::uint8_t>(v & 0xFF));
    out.push_back(static_cast<std::uint8_t>((v >> 8) & 0xFF));
}

void put_sub_blocks(std::vector<std::uint8_t>& out, const std::string& data) {
    for (std::size_t pos = 0; pos < data.size(); pos += 255) {
        const std::size_t n = std::min<std::size_t>(255, data.size() - pos);
        out.push_back(static_cast<std::uint8_t>(n));
        out.insert(out.end(), data.begin() + static_cast<std::ptrdiff_t>(pos),
                   data.begin() + static_cast<std::ptrdiff_t>(pos + n));
    }
    out.push_back(0);
}

}  // namespace

GifPalette build_gif_palette(const std::vector<Image>& frames_rgb) {
    GifPalette palette;
    // At most 256 distinct colours: keep them all, the GIF is then lossless.
    {
        std::unordered_map<std::uint32_t, int> seen;
        bool few = true;
        for (const Image& f : frames_rgb) {
            const std::size_t n = f.pixels.size() / 3;
            for (std::size_t i = 0; i < n && few; ++i) {
                seen.emplace(pack(f.pixels.data() + i * 3), 0);
                if (seen.size() > 256) few = false;
            }
            if (!few) break;
        }
        if (few) {
            std::vector<std::uint32_t> colors;
            for (const auto& kv : seen) colors.push_back(kv.first);
            std::sort(colors.begin(), colors.end());
            for (std::uint32_t c : colors) {
                palette.colors.push_back({static_cast<std::uint8_t>(c >> 16), static_cast<std::uint8_t>(c >> 8),
                                          static_cast<std::uint8_t>(c)});
            }
            palette.exact = true;
            return palette;
        }
    }
    // Histogram over 5 bits per channel, with the exact mean colour of each bin.
    std::vector<double> count(1 << 15, 0.0), sum(static_cast<std::size_t>(3) << 15, 0.0);
    for (const Image& f : frames_rgb) {
        const std::size_t n = f.pixels.size() / 3;
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint8_t* p = f.pixels.data() + i * 3;
            const std::size_t key = (static_cast<std::size_t>(p[0] >> 3) << 10) |
                                    (static_cast<std::size_t>(p[1] >> 3) << 5) | static_cast<std::size_t>(p[2] >> 3);
            count[key] += 1;
            for (int c = 0; c < 3; ++c) sum[key * 3 + static_cast<std::size_t>(c)] += p[c];
        }
    }
    std::vector<Bin> bins;
    for (std::size_t key = 0; key < count.size(); ++key) {
        if (count[key] > 0) {
            Bin b;
            b.count = count[key];
            for (int c = 0; c < 3; ++c) b.mean[c] = sum[key * 3 + static_cast<std::size_t>(c)] / count[key];
            bins.push_back(b);
        }
    }
    std::vector<Box> boxes = {{0, bins.size(), box_sse(bins, 0, bins.size())}};
    while (boxes.size() < 256) {
        std::size_t pick = boxes.size();
        for (std::size_t i = 0; i < boxes.size(); ++i) {
            if (boxes[i].end - boxes[i].begin >= 2 && (pick == boxes.size() || boxes[i].sse > boxes[pick].sse))
                pick = i;
        }
        if (pick == boxes.size()) break;  // every box is a single bin
        const Box box = boxes[pick];
        const std::size_t at = split_box(bins, box);
        boxes[pick] = {box.begin, at, box_sse(bins, box.begin, at)};
        boxes.push_back({at, box.end, box_sse(bins, at, box.end)});
    }
    std::vector<std::array<double, 3>> centers;
    for (const Box& box : boxes) {
        double n = 0, s[3] = {0, 0, 0};
        for (std::size_t i = box.begin; i < box.end; ++i) {
            n += bins[i].count;
            for (int c = 0; c < 3; ++c) s[c] += bins[i].count * bins[i].mean[c];
        }
        centers.push_back({s[0] / n, s[1] / n, s[2] / n});
    }
    // k-means refinement over the bins.
    for (int pass = 0; pass < 3; ++pass) {
        std::vector<std::array<std::uint8_t, 3>> current;
        for (const auto& c : centers) current.push_back(to_color(c.data()));
        std::vector<std::array<double, 4>> acc(centers.size(), {0, 0, 0, 0});
        for (const Bin& b : bins) {
            const auto k = static_cast<std::size_t>(nearest(current, b.mean[0], b.mean[1], b.mean[2]));
            for (int c = 0; c < 3; ++c) acc[k][static_cast<std::size_t>(c)] += b.count * b.mean[c];
            acc[k][3] += b.count;
        }
        for (std::size_t k = 0; k < centers.size(); ++k) {
            if (acc[k][3] > 0) {
                for (int c = 0; c < 3; ++c)
                    centers[k][static_cast<std::size_t>(c)] = acc[k][static_cast<std::size_t>(c)] / acc[k][3];
            }
        }
    }
    for (const auto& c : centers) palette.colors.push_back(to_color(c.data()));
    return palette;
}

Expected<std::vector<std::uint8_t>> encode_gif(const std::vector<Image>& frames_rgb, const GifEncodeOptions& options) {
    if (frames_rgb.empty()) {
        return make_error(ErrorCode::InvalidRequest, "No frames to write.");
    }
    const int w = frames_rgb[0].width;
    const int h = frames_rgb[0].height;
    if (w > 65535 || h > 65535) {
        return make_error(ErrorCode::InvalidRequest, "GIF frames are at most 65535 pixels a side; this clip is " +
                                                         std::to_string(w) + "x" + std::to_string(h) + ".");
    }
    const GifPalette palette = build_gif_palette(frames_rgb);
    ColorMapper mapper(palette);

    std::vector<std::uint8_t> out = {'G', 'I', 'F', '8', '9', 'a'};
    put_u16(out, static_cast<unsigned>(w));
    put_u16(out, static_cast<unsigned>(h));
    out.push_back(0xF7);  // global colour table, 8 bits per primary, 2^(7+1) = 256 entries
    out.push_back(0);     // background colour index
    out.push_back(0);     // no pixel aspect ratio
    for (std::size_t i = 0; i < 256; ++i) {
        const std::array<std::uint8_t, 3> c =
            i < palette.colors.size() ? palette.colors[i] : std::array<std::uint8_t, 3>{0, 0, 0};
        out.insert(out.end(), c.begin(), c.end());
    }
    const int num_frames = static_cast<int>(frames_rgb.size());
    if (num_frames > 1 && options.loop_count != 1) {
        // NETSCAPE2.0: the number of repetitions after the first play, 0 = forever.
        const std::string app = "NETSCAPE2.0";
        out.insert(out.end(), {0x21, 0xFF, 0x0B});
        out.insert(out.end(), app.begin(), app.end());
        out.insert(out.end(), {0x03, 0x01});
        put_u16(out, options.loop_count <= 0 ? 0u : static_cast<unsigned>(std::min(options.loop_count - 1, 65535)));
        out.push_back(0);
    }
    for (const std::string& comment : options.comments) {
        if (comment.empty()) continue;
        out.insert(out.end(), {0x21, 0xFE});
        put_sub_blocks(out, comment);
    }
    const double cs_per_frame = 100.0 / options.fps;
    for (int i = 0; i < num_frames; ++i) {
        if (options.is_cancelled && options.is_cancelled()) {
            return make_error(ErrorCode::IoError, "Export cancelled; no file was written.");
        }
        const std::vector<std::uint8_t> indices =
            quantize_frame(frames_rgb[static_cast<std::size_t>(i)], mapper, options.dither);
        // Graphic control extension: no disposal (each frame covers the whole canvas), delay.
        const long t0 = std::lround(i * cs_per_frame);
        const long t1 = std::lround((i + 1) * cs_per_frame);
        const auto delay = static_cast<unsigned>(std::clamp(t1 - t0, 2L, 65535L));
        out.insert(out.end(), {0x21, 0xF9, 0x04, 0x04});
        put_u16(out, delay);
        out.insert(out.end(), {0x00, 0x00});
        // Image descriptor: the whole canvas, global palette, not interlaced.
        out.push_back(0x2C);
        put_u16(out, 0);
        put_u16(out, 0);
        put_u16(out, static_cast<unsigned>(w));
        put_u16(out, static_cast<unsigned>(h));
        out.push_back(0x00);
        lzw_encode(indices, out);
        if (options.on_progress) options.on_progress(i + 1, num_frames);
    }
    out.push_back(0x3B);  // trailer
    return out;
}

}  // namespace engine::media
