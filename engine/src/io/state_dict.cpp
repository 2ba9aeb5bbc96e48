#include "io/state_dict.h"

#include <torch/torch.h>

#include <regex>
#include <set>
#include <sstream>

namespace engine::io {
namespace {

std::string shape_string(at::IntArrayRef s) {
    std::ostringstream os;
    os << s;
    return os.str();
}

bool matches_any(const std::string& key, const std::vector<std::regex>& patterns) {
    for (const auto& r : patterns) {
        if (std::regex_search(key, r)) return true;
    }
    return false;
}

std::vector<std::regex> compile(const std::vector<std::string>& patterns) {
    std::vector<std::regex> out;
    out.reserve(patterns.size());
    for (const auto& p : patterns) out.emplace_back(p, std::regex::ECMAScript);
    return out;
}

}  // namespace

std::string StateDictReport::summary(std::size_t max_per_kind) const {
    std::ostringstream os;
    auto list = [&](const char* title, const std::vector<std::string>& keys) {
        if (keys.empty()) return;
        os << "\n  " << title << " (" << keys.size() << "): ";
        for (std::size_t i = 0; i < keys.size() && i < max_per_kind; ++i) os << (i ? ", " : "") << keys[i];
        if (keys.size() > max_per_kind) os << ", ...";
    };
    os << num_loaded << " tensors loaded";
    list("missing from the checkpoint", missing);
    list("unexpected in the checkpoint", unexpected);
    list("shape mismatch", mismatched);
    return os.str();
}

TensorMap select_prefix(const TensorMap& weights, const std::string& prefix) {
    TensorMap out;
    for (auto it = weights.lower_bound(prefix); it != weights.end(); ++it) {
        if (it->first.compare(0, prefix.size(), prefix) != 0) break;
        out.emplace(it->first.substr(prefix.size()), it->second);
    }
    return out;
}

Expected<StateDictReport> load_state_dict(torch::nn::Module& module, const TensorMap& weights,
                                          const StateDictOptions& options, const std::string& what) {
    try {
        const auto ignore = compile(options.ignore_unexpected);
        const auto allow_missing = compile(options.allow_missing);
        // Checkpoint keys after prefix and renames.
        std::map<std::string, at::Tensor> source;
        for (const auto& [key, tensor] : select_prefix(weights, options.prefix)) {
            std::string k = key;
            for (const auto& [from, to] : options.renames) {
                if (k.compare(0, from.size(), from) == 0) {
                    k = to + k.substr(from.size());
                    break;
                }
            }
            source.emplace(std::move(k), tensor);
        }
        StateDictReport report;
        std::set<std::string> used;
        torch::NoGradGuard no_grad;
        auto visit = [&](const std::string& name, at::Tensor& target) {
            auto it = source.find(name);
            if (it == source.end()) {
                if (!matches_any(name, allow_missing)) report.missing.push_back(name);
                return;
            }
            used.insert(name);
            const at::Tensor& src = it->second;
            if (src.sizes() != target.sizes()) {
                report.mismatched.push_back(name + ": checkpoint " + shape_string(src.sizes()) + " vs model " +
                                            shape_string(target.sizes()));
                return;
            }
            target.copy_(src.to(target.options()));
            ++report.num_loaded;
        };
        for (auto& item : module.named_parameters(/*recurse=*/true)) visit(item.key(), item.value());
        for (auto& item : module.named_buffers(/*recurse=*/true)) visit(item.key(), item.value());
        for (const auto& [key, tensor] : source) {
            if (!used.count(key) && !matches_any(key, ignore)) report.unexpected.push_back(key);
        }
        if (options.strict && !report.ok()) {
            return make_error(ErrorCode::ModelLoadFailed,
                              "The weights do not fit the " + what + " model (is this the right checkpoint?): " +
                                  report.summary());
        }
        return report;
    } catch (const std::regex_error& e) {
        return make_error(ErrorCode::Internal, std::string("bad key pattern while loading ") + what + ": " + e.what());
    }
}

}  // namespace engine::io
