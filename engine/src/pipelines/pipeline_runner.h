// Dispatches a request to its pipeline (one file per task) and owns the loaded-model cache.
#pragma once

#include <memory>

#include "engine/engine.h"
#include "runtime/worker.h"

namespace engine::pipelines {

/// The runner the real engine uses.
std::unique_ptr<runtime::PipelineRunner> make_pipeline_runner(const EngineOptions& options);

}  // namespace engine::pipelines
