// A one-line terminal progress bar on stderr: "denoising [#####.....] 5/10  1.2 s/it  ETA 6 s".
#pragma once

#include <string>

namespace cli {

class ProgressBar {
public:
    explicit ProgressBar(bool enabled);
    /// Redraws the line for this stage/step (throttled to ~20 redraws per second).
    void update(const std::string& stage, int step, int num_steps, double elapsed_s);
    /// Ends the line.
    void finish();

private:
    bool enabled_;
    bool drawn_ = false;
    std::string last_stage_;
    double stage_start_s_ = 0.0;
    double last_draw_s_ = -1.0;
};

}  // namespace cli
