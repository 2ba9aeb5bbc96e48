#include "cli/progress_bar.h"

#include <cstdio>

namespace cli {

ProgressBar::ProgressBar(bool enabled) : enabled_(enabled) {}

void ProgressBar::update(const std::string& stage, int step, int num_steps, double elapsed_s) {
    if (!enabled_) {
        return;
    }
    if (stage != last_stage_) {
        if (drawn_) {
            std::fputc('\n', stderr);
        }
        last_stage_ = stage;
        stage_start_s_ = elapsed_s;
        last_draw_s_ = -1.0;
    }
    const bool last = num_steps > 0 && step >= num_steps;
    if (!last && last_draw_s_ >= 0.0 && elapsed_s - last_draw_s_ < 0.05) {
        return;
    }
    last_draw_s_ = elapsed_s;
    constexpr int kWidth = 30;
    std::string bar;
    if (num_steps > 0) {
        int filled = static_cast<int>(static_cast<double>(kWidth) * step / num_steps);
        bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kWidth - filled), '.');
        const double in_stage = elapsed_s - stage_start_s_;
        const double per_step = step > 0 ? in_stage / step : 0.0;
        const double eta = per_step * (num_steps - step);
        std::fprintf(stderr, "\r%-16s [%s] %d/%d  %.2f s/it  ETA %.0f s   ", stage.c_str(), bar.c_str(), step,
                     num_steps, per_step, eta);
    } else {
        std::fprintf(stderr, "\r%-16s ...   ", stage.c_str());
    }
    std::fflush(stderr);
    drawn_ = true;
}

void ProgressBar::finish() {
    if (enabled_ && drawn_) {
        std::fputc('\n', stderr);
        std::fflush(stderr);
    }
    drawn_ = false;
}

}  // namespace cli
