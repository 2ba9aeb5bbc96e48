// The Sana golden pipeline cases (sana_pipeline_tiny, sana_sprint_pipeline_tiny) as engine inputs: the request the
// golden was made with, and its recorded prompt embeddings (for machines without the tokenizer bridge, e.g. the GPU
// machines, and for tests about what comes after the text encoder).
#pragma once

#include "engine/requests.h"
#include "pipelines/sana_pipeline.h"
#include "support/golden_case.h"

namespace test_support {

/// The TextToImageRequest of the golden's meta (prompt, negative prompt, steps, guidance, seed, size, binning).
engine::TextToImageRequest sana_request_from(const GoldenCase& gc);

/// Puts the golden's prompt (and, with CFG, negative prompt) embeddings and masks into `options`, so that generation
/// skips the text encoder.
void use_golden_prompt_embeddings(const GoldenCase& gc, engine::pipelines::SanaGenerateOptions& options);

/// Checks a run's prompt embeddings (SanaTrace::prompt, ::negative) against the golden's: `kept` positions (the run's
/// kept caption length; the trace holds those alone with trim_caption), equal to the golden's first `kept` (masks
/// equal, embeddings within 1e-4 relative); a negative one exactly when the golden has one.
void check_sana_trace_prompts(const GoldenCase& gc, const engine::pipelines::SanaTrace& trace, int64_t kept);

}  // namespace test_support
