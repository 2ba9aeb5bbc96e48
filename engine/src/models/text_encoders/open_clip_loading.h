// Loading an open_clip tower (the text tower of VideoCrafter / DynamiCrafter, the ViT image tower of DynamiCrafter)
// from a checkpoint's tensors: build it on its device in its dtype, strict-load the keys under `prefix`, eval.
#pragma once

#include <c10/core/ScalarType.h>

#include <string>
#include <vector>

#include "core/engine_error.h"
#include "io/state_dict.h"
#include "models/common/model_loading.h"
#include "models/text_encoders/open_clip_text.h"  // OpenCLIPLoadOptions

namespace engine::models {

/// Model: a torch::nn module holder constructible from (config, TensorOptions). `what` names the tower in errors
/// ("CLIP image encoder"); `ignore_unexpected`: regexes of checkpoint keys under the prefix that the tower does not
/// use (they serve open_clip's pooled embedding).
template <typename Model, typename Config>
Expected<Model> load_open_clip_tower(const io::TensorMap& weights, const Config& config,
                                     const OpenCLIPLoadOptions& options, const std::string& prefix,
                                     const std::string& what, std::vector<std::string> ignore_unexpected) {
    if (!at::isFloatingType(options.dtype)) {
        return make_error(ErrorCode::InvalidRequest,
                          what + ": dtype " + c10::toString(options.dtype) + " is not a floating type");
    }
    return guarded_model_build("the " + what, [&]() -> Expected<Model> {
        Model model(config, at::TensorOptions().dtype(options.dtype).device(options.device));
        io::StateDictOptions load_options;
        load_options.prefix = prefix;
        load_options.ignore_unexpected = std::move(ignore_unexpected);
        auto report = io::load_state_dict(*model, weights, load_options, what + " (keys " + prefix + "*)");
        if (!report) {
            return Unexpected{report.error()};
        }
        model->eval();
        return model;
    });
}

}  // namespace engine::models
