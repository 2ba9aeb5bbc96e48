#include "io/torch_ckpt.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/log.h"
#include "io/float8.h"
#include "io/pickle.h"
#include "io/zip_archive.h"

namespace engine::io {
namespace {

using pickle::Kind;
using pickle::PickleError;
using pickle::Value;
using pickle::ValuePtr;

// A torch storage type global (torch.FloatStorage, ...): the element dtype, by its safetensors name.
struct StorageType {
    std::string name;   // "FloatStorage"
    std::string dtype;  // "F32"; "U8" for untyped (byte) storages
    bool untyped = false;
};

// A torch dtype global (torch.float16, ...), the dtype argument of _rebuild_tensor_v3.
struct DType {
    std::string name;   // "float16"
    std::string dtype;  // "F16"; empty when Kinora has no equivalent
};

// One storage record, resolved from a persistent id.
struct Storage {
    std::string key;
    std::string dtype;  // element dtype (safetensors name)
    std::int64_t numel = 0;
    const std::uint8_t* data = nullptr;
    std::size_t nbytes = 0;                  // numel × element size (<= the record's size)
    std::map<std::string, at::Tensor> flat;  // 1-D tensors over the whole storage, by tensor dtype
};
using StoragePtr = std::shared_ptr<Storage>;

struct TypeTag {
    std::string name;  // "torch.Tensor", "torch.nn.parameter.Parameter"
};

// Everything the hooks need while data.pkl is unpickled.
struct LoadContext {
    std::shared_ptr<ZipArchive> zip;
    std::string top;  // "archive/" (with the slash) or "" for a root-level data.pkl
    std::map<std::string, ValuePtr> storages;
    std::size_t bytes_copied = 0;
    const pickle::UnpickleHooks* hooks = nullptr;  // for handlers that call other handlers
};

const std::vector<std::pair<std::string, std::string>>& storage_types() {
    static const std::vector<std::pair<std::string, std::string>> table = {
        {"FloatStorage", "F32"}, {"DoubleStorage", "F64"}, {"HalfStorage", "F16"},  {"BFloat16Storage", "BF16"},
        {"LongStorage", "I64"},  {"IntStorage", "I32"},    {"ShortStorage", "I16"}, {"CharStorage", "I8"},
        {"ByteStorage", "U8"},   {"BoolStorage", "BOOL"},
    };
    return table;
}

const std::vector<std::pair<std::string, std::string>>& torch_dtypes() {
    static const std::vector<std::pair<std::string, std::string>> table = {
        {"float32", "F32"},
        {"float", "F32"},
        {"float64", "F64"},
        {"double", "F64"},
        {"float16", "F16"},
        {"half", "F16"},
        {"bfloat16", "BF16"},
        {"int64", "I64"},
        {"long", "I64"},
        {"int32", "I32"},
        {"int", "I32"},
        {"int16", "I16"},
        {"short", "I16"},
        {"int8", "I8"},
        {"uint8", "U8"},
        {"bool", "BOOL"},
        {"float8_e4m3fn", "F8_E4M3"},
        {"float8_e5m2", "F8_E5M2"},
        // Known to torch, not to Kinora: a clear error when a tensor uses them.
        {"uint16", ""},
        {"uint32", ""},
        {"uint64", ""},
        {"complex64", ""},
        {"complex128", ""},
        {"cfloat", ""},
        {"cdouble", ""},
        {"float8_e4m3fnuz", ""},
        {"float8_e5m2fnuz", ""},
        {"float8_e8m0fnu", ""},
    };
    return table;
}

std::int64_t to_int(const ValuePtr& v, const std::string& what) {
    if (v->kind == Kind::Int) return v->integer;
    if (v->kind == Kind::Bool) return v->boolean ? 1 : 0;
    pickle::require_no_placeholder(*v, what);
    throw PickleError(what + " is " + pickle::describe(*v) + ", not an integer");
}

std::vector<std::int64_t> to_int_list(const ValuePtr& v, const std::string& what) {
    if (v->kind != Kind::Tuple && v->kind != Kind::List) {
        pickle::require_no_placeholder(*v, what);
        throw PickleError(what + " is " + pickle::describe(*v) + ", not a tuple of integers");
    }
    std::vector<std::int64_t> out;
    out.reserve(v->items.size());
    for (const auto& item : v->items) {
        const std::int64_t x = to_int(item, what);
        if (x < 0) throw PickleError(what + " has a negative value " + std::to_string(x));
        out.push_back(x);
    }
    return out;
}

at::ScalarType scalar_type_of(const std::string& dtype) {
    auto st = safetensors_scalar_type(dtype);
    if (st) return *st;
    return at::kBFloat16;  // F8 tensors are decoded to bfloat16
}

// The whole storage as a 1-D tensor of `dtype` (zero-copy when aligned), cached per dtype.
at::Tensor flat_view(Storage& s, const std::string& dtype, LoadContext& ctx) {
    auto it = s.flat.find(dtype);
    if (it != s.flat.end()) return it->second;
    const std::size_t elem = safetensors_dtype_size(dtype);
    const auto count = static_cast<std::int64_t>(s.nbytes / elem);
    at::Tensor flat;
    if (dtype == "F8_E4M3" || dtype == "F8_E5M2") {
        flat = decode_float8(s.data, s.nbytes, {count}, dtype == "F8_E4M3" ? Float8Kind::E4M3 : Float8Kind::E5M2);
        ctx.bytes_copied += s.nbytes;
    } else {
        const auto options = at::TensorOptions().dtype(scalar_type_of(dtype)).device(at::kCPU);
        if (count == 0) {
            flat = at::empty({0}, options);
        } else if (reinterpret_cast<std::uintptr_t>(s.data) % elem != 0) {
            flat = at::empty({count}, options);
            std::memcpy(flat.data_ptr(), s.data, static_cast<std::size_t>(count) * elem);
            ctx.bytes_copied += static_cast<std::size_t>(count) * elem;
        } else {
            std::shared_ptr<MappedFile> keep = ctx.zip->file();
            flat = at::from_blob(
                const_cast<std::uint8_t*>(s.data), {count}, [keep](void*) mutable { keep.reset(); }, options);
        }
    }
    s.flat.emplace(dtype, flat);
    return flat;
}

// torch._utils._rebuild_tensor{,_v2,_v3}: a view of `storage` with the saved geometry.
ValuePtr rebuild_tensor(const std::vector<ValuePtr>& args, const DType* dtype_override, LoadContext& ctx,
                        const char* fn) {
    const std::string f = fn;
    if (args.size() < 4) throw PickleError(f + " called with " + std::to_string(args.size()) + " arguments");
    const ValuePtr& sv = args[0];
    if (sv->kind != Kind::Native || sv->text != "storage") {
        pickle::require_no_placeholder(*sv, "the storage of a tensor");
        throw PickleError(f + ": the storage argument is " + pickle::describe(*sv));
    }
    Storage& s = *std::any_cast<const StoragePtr&>(sv->native);
    const std::int64_t offset = to_int(args[1], f + " storage offset");
    const auto sizes = to_int_list(args[2], f + " size");
    const auto strides = to_int_list(args[3], f + " stride");
    if (offset < 0) throw PickleError(f + ": negative storage offset " + std::to_string(offset));
    if (sizes.size() != strides.size()) {
        throw PickleError(f + ": " + std::to_string(sizes.size()) + " sizes but " + std::to_string(strides.size()) +
                          " strides");
    }
    std::string dtype = s.dtype;
    if (dtype_override != nullptr) {
        if (dtype_override->dtype.empty()) {
            throw PickleError("a tensor of dtype torch." + dtype_override->name + ", which Kinora does not support",
                              ErrorCode::UnsupportedModel);
        }
        dtype = dtype_override->dtype;
    }
    const std::size_t elem = safetensors_dtype_size(dtype);
    const auto count = static_cast<std::int64_t>(s.nbytes / elem);  // elements of `dtype` in the storage

    // numel, guarded against overflow; then the furthest element the view reaches must lie in the storage.
    std::int64_t numel = 1;
    for (std::int64_t d : sizes) {
        if (d != 0 && numel > (std::int64_t{1} << 62) / d) throw PickleError(f + ": the tensor size overflows");
        numel *= d;
    }
    const auto options = at::TensorOptions().dtype(scalar_type_of(dtype)).device(at::kCPU);
    if (numel == 0) return pickle::make_native("tensor", at::empty(sizes, options));
    std::int64_t last = offset;
    bool inside = offset < count;
    for (std::size_t i = 0; i < sizes.size() && inside; ++i) {
        if (sizes[i] > 1 && strides[i] > 0) {
            if (sizes[i] - 1 > (count - 1 - last) / strides[i]) {
                inside = false;
            } else {
                last += (sizes[i] - 1) * strides[i];
            }
        }
    }
    if (!inside) {
        std::string geometry = "size [";
        for (std::size_t i = 0; i < sizes.size(); ++i) geometry += (i ? ", " : "") + std::to_string(sizes[i]);
        geometry += "], stride [";
        for (std::size_t i = 0; i < strides.size(); ++i) geometry += (i ? ", " : "") + std::to_string(strides[i]);
        geometry += "], offset " + std::to_string(offset);
        throw PickleError("a tensor (" + geometry + ") reaches past the end of storage '" + s.key + "' (" +
                          std::to_string(count) + " elements of " + dtype + ")");
    }
    at::Tensor flat = flat_view(s, dtype, ctx);
    return pickle::make_native("tensor", flat.as_strided(sizes, strides, offset));
}

const at::Tensor& tensor_arg(const ValuePtr& v, const std::string& what) {
    if (v->kind == Kind::Native && v->text == "tensor") return std::any_cast<const at::Tensor&>(v->native);
    pickle::require_no_placeholder(*v, what);
    throw PickleError(what + " is " + pickle::describe(*v) + ", not a tensor");
}

pickle::UnpickleHooks torch_hooks(LoadContext& ctx) {
    pickle::UnpickleHooks h = pickle::python_data_hooks();
    for (const auto& [name, dtype] : storage_types()) {
        auto type = pickle::make_native("storage_type", StorageType{name, dtype, false});
        h.constants["torch." + name] = type;
        h.constants["torch.cuda." + name] = type;
    }
    for (const char* untyped : {"torch.UntypedStorage", "torch.storage.UntypedStorage", "torch._UntypedStorage",
                                "torch.storage._UntypedStorage"}) {
        h.constants[untyped] = pickle::make_native("storage_type", StorageType{"UntypedStorage", "U8", true});
    }
    for (const auto& [name, dtype] : torch_dtypes()) {
        h.constants["torch." + name] = pickle::make_native("dtype", DType{name, dtype});
    }
    for (const char* type : {"torch.Tensor", "torch._tensor.Tensor", "torch.nn.parameter.Parameter"}) {
        h.constants[type] = pickle::make_native("type", TypeTag{type});
    }

    h.callables["torch._utils._rebuild_tensor"] = [&ctx](const std::vector<ValuePtr>& a) {
        return rebuild_tensor(a, nullptr, ctx, "torch._utils._rebuild_tensor");
    };
    h.callables["torch._utils._rebuild_tensor_v2"] = [&ctx](const std::vector<ValuePtr>& a) {
        return rebuild_tensor(a, nullptr, ctx, "torch._utils._rebuild_tensor_v2");
    };
    h.callables["torch._utils._rebuild_tensor_v3"] = [&ctx](const std::vector<ValuePtr>& a) {
        if (a.size() < 7 || a[6]->kind != Kind::Native || a[6]->text != "dtype") {
            if (a.size() >= 7) pickle::require_no_placeholder(*a[6], "the dtype of a tensor");
            throw PickleError("torch._utils._rebuild_tensor_v3 without a torch dtype argument");
        }
        return rebuild_tensor(a, &std::any_cast<const DType&>(a[6]->native), ctx, "torch._utils._rebuild_tensor_v3");
    };
    auto parameter = [](const std::vector<ValuePtr>& a) {
        if (a.empty()) throw PickleError("torch._utils._rebuild_parameter without data");
        tensor_arg(a[0], "the data of a parameter");
        return a[0];
    };
    h.callables["torch._utils._rebuild_parameter"] = parameter;
    h.callables["torch._utils._rebuild_parameter_with_state"] = parameter;
    h.callables["torch._tensor._rebuild_from_type_v2"] = [&ctx](const std::vector<ValuePtr>& a) {
        // (func, new_type, args, state): func(*args) for plain tensors and parameters; a subclass is a placeholder.
        if (a.size() < 3) throw PickleError("torch._tensor._rebuild_from_type_v2 with too few arguments");
        if (a[1]->kind != Kind::Native || a[1]->text != "type") {
            auto obj = std::make_shared<Value>();
            obj->kind = Kind::Object;
            obj->text = a[1]->kind == Kind::Global ? a[1]->text : "a tensor subclass";
            obj->reason = "a tensor subclass";
            obj->items = a;
            return ValuePtr(obj);
        }
        if (a[0]->kind != Kind::Global || !a[0]->callable || a[2]->kind != Kind::Tuple) {
            pickle::require_no_placeholder(*a[0], "the rebuild function of a tensor");
            throw PickleError("torch._tensor._rebuild_from_type_v2 with " + pickle::describe(*a[0]));
        }
        return ctx.hooks->callables.at(a[0]->text)(a[2]->items);
    };
    h.callables["torch.device"] = [](const std::vector<ValuePtr>& a) {
        if (a.empty() || a[0]->kind != Kind::String) throw PickleError("torch.device needs a string");
        std::string device = a[0]->text;
        if (a.size() > 1 && a[1]->kind == Kind::Int) device += ":" + std::to_string(a[1]->integer);
        return pickle::make_string(device);
    };
    h.callables["torch.Size"] = [](const std::vector<ValuePtr>& a) {
        if (a.size() != 1 || (a[0]->kind != Kind::Tuple && a[0]->kind != Kind::List)) {
            throw PickleError("torch.Size needs one tuple");
        }
        return pickle::make_tuple(a[0]->items);
    };
    h.callables["torch.serialization._get_layout"] = [](const std::vector<ValuePtr>& a) {
        if (a.size() != 1 || a[0]->kind != Kind::String) throw PickleError("_get_layout needs a string");
        return pickle::make_string(a[0]->text);
    };
    // Tensor kinds torch knows and Kinora does not: inert unless a state dict entry needs them.
    const std::vector<std::pair<std::string, std::string>> unsupported = {
        {"_rebuild_qtensor", "a quantized tensor"},
        {"_rebuild_sparse_tensor", "a sparse tensor"},
        {"_rebuild_sparse_csr_tensor", "a sparse tensor"},
        {"_rebuild_nested_tensor", "a nested tensor"},
        {"_rebuild_meta_tensor_no_storage", "a meta tensor without data"},
        {"_rebuild_wrapper_subclass", "a tensor subclass"},
        {"_rebuild_device_tensor_from_numpy", "a tensor stored as a numpy array"},
        {"_rebuild_device_tensor_from_cpu_tensor", "a device tensor"},
        {"_rebuild_xla_tensor", "an XLA tensor"},
        {"_rebuild_mlc_tensor", "an MLC tensor"},
    };
    for (const auto& [fn, what] : unsupported) {
        const std::string name = "torch._utils." + fn;
        const std::string reason = what;
        h.callables[name] = [name, reason](const std::vector<ValuePtr>& a) {
            auto obj = std::make_shared<Value>();
            obj->kind = Kind::Object;
            obj->text = name;
            obj->reason = reason;
            obj->items = a;
            return ValuePtr(obj);
        };
    }

    h.persistent_load = [&ctx](const ValuePtr& pid) -> ValuePtr {
        // ('storage', storage_type, key, location, numel)
        if (pid->kind != Kind::Tuple || pid->items.size() < 5 || pid->items[0]->kind != Kind::String ||
            pid->items[0]->text != "storage") {
            throw PickleError("a persistent id that is not a storage reference: " + pickle::describe(*pid));
        }
        const ValuePtr& type = pid->items[1];
        if (type->kind != Kind::Native || type->text != "storage_type") {
            pickle::require_no_placeholder(*type, "the storage type of a tensor");
            throw PickleError("storage type " + pickle::describe(*type) + " is not a torch storage type");
        }
        const ValuePtr& key = pid->items[2];
        if (key->kind != Kind::String && key->kind != Kind::Int) {
            throw PickleError("a storage key that is " + pickle::describe(*key));
        }
        const std::string k = key->kind == Kind::String ? key->text : std::to_string(key->integer);
        if (auto cached = ctx.storages.find(k); cached != ctx.storages.end()) return cached->second;

        const auto& st = std::any_cast<const StorageType&>(type->native);
        const std::int64_t numel = to_int(pid->items[4], "the size of storage '" + k + "'");
        if (numel < 0) throw PickleError("storage '" + k + "' has a negative size");
        const std::string record = ctx.top + "data/" + k;
        const ZipEntry* entry = ctx.zip->find(record);
        if (entry == nullptr) {
            throw PickleError("data.pkl refers to storage '" + k + "', but the record '" + record +
                              "' is missing from the archive. The file is incomplete or corrupt; download it again.");
        }
        auto bytes = ctx.zip->stored_data(*entry);
        if (!bytes) throw PickleError(bytes.error().message, bytes.error().code);
        const std::size_t elem = safetensors_dtype_size(st.dtype);
        if (static_cast<std::uint64_t>(numel) > bytes->size / elem) {
            throw PickleError("storage '" + k + "' should hold " + std::to_string(numel) + " " + st.dtype +
                              " elements, but its record '" + record + "' has only " + std::to_string(bytes->size) +
                              " bytes. The file is truncated or corrupt; download it again.");
        }
        auto s = std::make_shared<Storage>();
        s->key = k;
        s->dtype = st.dtype;
        s->numel = numel;
        s->data = bytes->data;
        s->nbytes = static_cast<std::size_t>(numel) * elem;
        auto v = pickle::make_native("storage", StoragePtr(s));
        ctx.storages.emplace(k, v);
        return v;
    };
    return h;
}

std::string format_float(double v) {
    // Shortest %g that reads back exactly (the same rule tests/tools/golden_manifest.py uses).
    char buf[40];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

bool is_tensor(const Value& v) {
    return v.kind == Kind::Native && v.text == "tensor";
}

bool is_tensor_dict(const Value& d) {
    if (d.kind != Kind::Dict || d.entries.empty()) return false;
    for (const auto& [k, v] : d.entries) {
        if (!is_tensor(*v)) return false;
    }
    return true;
}

Unexpected legacy_error(const std::string& path) {
    return make_error(ErrorCode::UnsupportedModel,
                      path +
                          " is a PyTorch checkpoint in the legacy format (torch.save before PyTorch 1.6, or a "
                          "plain pickle), which Kinora does not read. Convert it once in Python: "
                          "torch.save(torch.load(path, map_location='cpu'), 'converted.ckpt') writes the zip "
                          "format; or save the state dict as .safetensors.");
}

}  // namespace

Expected<TorchCheckpoint> read_torch_checkpoint(const std::string& path) {
    auto mapped = MappedFile::open(path);
    if (!mapped) return Unexpected{mapped.error()};
    const std::uint8_t* head = (*mapped)->data();
    const std::size_t size = (*mapped)->size();
    if (size >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) return legacy_error(path);
    if (size < 4 || head[0] != 'P' || head[1] != 'K' ||
        !((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6))) {
        return make_error(ErrorCode::ModelLoadFailed,
                          path +
                              " is not a PyTorch checkpoint: it does not start with a zip header (torch.save "
                              "writes a zip archive since PyTorch 1.6). Check that the download is complete and "
                              "that this is the model file.");
    }
    auto zip = ZipArchive::open(std::move(mapped).value());
    if (!zip) return Unexpected{zip.error()};

    LoadContext ctx;
    ctx.zip = std::move(zip).value();
    const ZipEntry* pkl = nullptr;
    for (const auto& e : ctx.zip->entries()) {
        const auto slash = e.name.find('/');
        if ((slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) ||
            e.name == "data.pkl") {
            pkl = &e;
            ctx.top = slash == std::string::npos ? "" : e.name.substr(0, slash + 1);
            break;
        }
    }
    if (pkl == nullptr) {
        std::string names;
        std::size_t shown = 0;
        for (const auto& e : ctx.zip->entries()) {
            if (shown++ == 5) {
                names += ", ...";
                break;
            }
            names += (names.empty() ? "" : ", ") + e.name;
        }
        return make_error(ErrorCode::ModelLoadFailed,
                          path + " is a zip archive without data.pkl, so not a PyTorch checkpoint (it holds: " +
                              (names.empty() ? std::string("nothing") : names) + ").");
    }
    if (const ZipEntry* order = ctx.zip->find(ctx.top + "byteorder")) {
        auto bytes = ctx.zip->stored_data(*order);
        if (!bytes) return Unexpected{bytes.error()};
        const std::string byteorder(reinterpret_cast<const char*>(bytes->data), bytes->size);
        if (byteorder != "little") {
            return make_error(ErrorCode::UnsupportedModel,
                              path + " was saved on a " + byteorder +
                                  "-endian machine; Kinora reads little-endian checkpoints only. Re-save it on a "
                                  "little-endian machine or convert it to safetensors.");
        }
    }
    auto pkl_bytes = ctx.zip->stored_data_checked(*pkl);
    if (!pkl_bytes) return Unexpected{pkl_bytes.error()};

    const pickle::UnpickleHooks hooks = torch_hooks(ctx);
    ctx.hooks = &hooks;
    auto root_or = pickle::unpickle(pkl_bytes->data, pkl_bytes->size, hooks, path + " (" + pkl->name + ")");
    if (!root_or) return Unexpected{root_or.error()};
    const ValuePtr root = std::move(root_or).value();

    auto fail = [&](ErrorCode code, const std::string& what) { return make_error(code, path + ": " + what); };
    if (root->kind != Kind::Dict) {
        if (root->kind == Kind::Object) {
            return fail(ErrorCode::UnsupportedModel,
                        "the checkpoint holds a pickled Python object (" + root->text +
                            "), e.g. a whole model saved with torch.save(model), not a state dict. Kinora never "
                            "runs code from a checkpoint; re-save it with torch.save(model.state_dict(), path).");
        }
        return fail(ErrorCode::UnsupportedModel,
                    "the checkpoint holds " + pickle::describe(*root) + ", not a dict of tensors");
    }

    // Find the state dict: Lightning's "state_dict", nested "model_state_dict"/"module"/"model", or the top level.
    TorchCheckpoint out;
    const Value* sd = root.get();
    for (int level = 0; level < 3 && !is_tensor_dict(*sd); ++level) {
        bool moved = false;
        for (const char* key : {"state_dict", "model_state_dict", "module", "model"}) {
            const ValuePtr* child = sd->find(key);
            if (child != nullptr && (*child)->kind == Kind::Dict) {
                sd = child->get();
                out.state_dict_key += (out.state_dict_key.empty() ? "" : ".") + std::string(key);
                moved = true;
                break;
            }
            if (child != nullptr && (*child)->kind == Kind::Object && std::string(key) == "state_dict") {
                try {
                    pickle::require_no_placeholder(**child, "the state_dict");
                } catch (const PickleError& e) {
                    return fail(e.code(), e.what());
                }
            }
        }
        if (!moved) break;
    }
    if (sd == root.get() && !is_tensor_dict(*sd)) {
        bool any_tensor = false;
        for (const auto& [k, v] : sd->entries) any_tensor = any_tensor || is_tensor(*v);
        if (!any_tensor) {
            std::string keys;
            std::size_t shown = 0;
            for (const auto& [k, v] : sd->entries) {
                if (shown++ == 12) {
                    keys += ", ...";
                    break;
                }
                keys += (keys.empty() ? "" : ", ") + (k->kind == Kind::String ? k->text : pickle::describe(*k));
            }
            return fail(ErrorCode::UnsupportedModel,
                        "no state dict found: the top-level dict has no tensors and no \"state_dict\", \"module\" "
                        "or \"model\" entry (its keys: " +
                            (keys.empty() ? std::string("none") : keys) + ")");
        }
    }
    const std::string where = out.state_dict_key.empty() ? "state dict" : "\"" + out.state_dict_key + "\"";
    for (const auto& [k, v] : sd->entries) {
        if (k->kind != Kind::String) {
            return fail(ErrorCode::ModelLoadFailed,
                        "the " + where + " has a key that is " + pickle::describe(*k) + ", not a tensor name");
        }
        if (!is_tensor(*v)) {
            const std::string what = "entry '" + k->text + "' of the " + where;
            try {
                pickle::require_no_placeholder(*v, what);
            } catch (const PickleError& e) {
                return fail(e.code(), e.what());
            }
            return fail(ErrorCode::ModelLoadFailed, what + " is " + pickle::describe(*v) + ", not a tensor");
        }
        out.tensors.emplace(k->text, std::any_cast<const at::Tensor&>(v->native));
    }
    if (out.tensors.empty()) return fail(ErrorCode::ModelLoadFailed, "the " + where + " is empty");

    // Top-level scalars as metadata (Lightning: epoch, global_step, pytorch-lightning_version, ...).
    const std::string first_key = out.state_dict_key.substr(0, out.state_dict_key.find('.'));
    if (sd != root.get()) {
        for (const auto& [k, v] : root->entries) {
            if (k->kind != Kind::String || k->text == first_key) continue;
            switch (v->kind) {
                case Kind::Int:
                    out.metadata[k->text] = std::to_string(v->integer);
                    break;
                case Kind::Bool:
                    out.metadata[k->text] = v->boolean ? "true" : "false";
                    break;
                case Kind::Float:
                    out.metadata[k->text] = format_float(v->real);
                    break;
                case Kind::String:
                    out.metadata[k->text] = v->text;
                    break;
                default:
                    break;
            }
        }
    }
    out.bytes_copied = ctx.bytes_copied;
    LOG_DEBUG("%s: %zu tensors from %s, %zu bytes copied", path.c_str(), out.tensors.size(), where.c_str(),
              out.bytes_copied);
    return out;
}

}  // namespace engine::io
