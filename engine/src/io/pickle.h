// Ref: CPython Lib/pickle.py and Lib/pickletools.py (opcode semantics, protocols 0-5)
// A restricted unpickler: it interprets the pickle opcodes itself and NEVER runs code. Globals resolve
// through tables the caller supplies:
//   - `callables`: "module.name" → a C++ handler that builds a value from the call's arguments (e.g. the
//     torch tensor rebuild functions), run by REDUCE / NEWOBJ;
//   - `constants`: "module.name" → a value (e.g. torch storage types or dtypes).
// Any other global becomes an inert placeholder (Kind::Global; calling it gives Kind::Object) that records
// what it was and is never called, so metadata built from unknown classes (numpy scalars, argparse.Namespace,
// Lightning callbacks) still loads. Whoever USES a value checks it with require_no_placeholder(), which names
// the global ("forbidden global numpy.core.multiarray.scalar"). Globals that exist only to run code
// (os.system, subprocess.*, builtins.eval/exec, ...) are refused outright wherever they appear.
//
//     UnpickleHooks hooks = python_data_hooks();
//     hooks.persistent_load = [&](const ValuePtr& pid) { ... };
//     Expected<ValuePtr> root = unpickle(bytes, size, hooks, "model.ckpt/archive/data.pkl");
//
// Thread safety: unpickle() is reentrant; values are plain data owned by shared_ptr.
#pragma once

#include <any>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/error.h"

namespace engine::io::pickle {

enum class Kind {
    None,
    Bool,
    Int,
    Float,
    String,  // str (UTF-8); also protocol-1 byte strings
    Bytes,
    Tuple,
    List,
    Dict,
    Set,     // set / frozenset, as a list of items
    Global,  // a class or function referenced by GLOBAL / STACK_GLOBAL, never called
    Object,  // inert placeholder for what calling a non-allowed global would have built
    Native,  // a value built by a caller's handler (e.g. a tensor), in `native`
};

const char* to_string(Kind kind) noexcept;

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
    Value() = default;
    ~Value();
    Value(const Value&) = delete;
    Value& operator=(const Value&) = delete;

    Kind kind = Kind::None;
    bool boolean = false;
    std::int64_t integer = 0;
    double real = 0.0;
    // String/Bytes: the bytes. Global: "module.name". Object: the global that would have built it.
    // Native: a type tag chosen by the handler ("tensor", "storage", ...).
    std::string text;
    // Global: true when `callables` has a handler for it.
    bool callable = false;
    // Global/Object: why it is not allowed (empty = not on the allow-list).
    std::string reason;
    // Tuple, List, Set items; Object: the call's arguments (and anything APPENDed).
    std::vector<ValuePtr> items;
    // Dict entries in insertion order (SETITEM on an existing key replaces its value); Object: SETITEMs.
    std::vector<std::pair<ValuePtr, ValuePtr>> entries;
    // BUILD state given to a Dict or an Object (kept, never applied).
    ValuePtr state;
    // Native payload.
    std::any native;

    /// Dict lookup by string key (nullptr when absent or not a dict).
    const ValuePtr* find(const std::string& key) const;

    // Private to the unpickler: index of Dict entries by key.
    std::unordered_map<std::string, std::size_t> key_index_;
};

ValuePtr make_none();
ValuePtr make_bool(bool v);
ValuePtr make_int(std::int64_t v);
ValuePtr make_float(double v);
ValuePtr make_string(std::string v);
ValuePtr make_bytes(std::string v);
ValuePtr make_tuple(std::vector<ValuePtr> items);
ValuePtr make_list(std::vector<ValuePtr> items);
ValuePtr make_dict();
ValuePtr make_native(std::string tag, std::any payload);

/// Appends or replaces a dict entry (Python dict semantics for str/int/bool/float/None/tuple keys).
void dict_set(Value& dict, ValuePtr key, ValuePtr value);

/// A short description for messages: "int 3", "str 'abc'", "dict (12 entries)", "placeholder numpy.dtype".
std::string describe(const Value& v);

/// Thrown by handlers (and the unpickler) for malformed or forbidden input; unpickle() turns it into an Error.
class PickleError : public std::runtime_error {
public:
    explicit PickleError(const std::string& message, ErrorCode code = ErrorCode::ModelLoadFailed)
        : std::runtime_error(message), code_(code) {}
    ErrorCode code() const noexcept { return code_; }

private:
    ErrorCode code_;
};

/// The first placeholder (Global or Object) inside `v` (depth-first, bounded depth), or nullptr.
const Value* find_placeholder(const Value& v, int max_depth = 64);
/// Throws PickleError("<what> ... forbidden global X ...") when `v` is or contains a placeholder.
void require_no_placeholder(const Value& v, const std::string& what);

using CallHandler = std::function<ValuePtr(const std::vector<ValuePtr>& args)>;

struct UnpickleHooks {
    std::map<std::string, CallHandler> callables;  // "module.name" → handler
    std::map<std::string, ValuePtr> constants;     // "module.name" → value
    // BINPERSID / PERSID: turns a persistent id into a value; unset = persistent ids are an error.
    std::function<ValuePtr(const ValuePtr& pid)> persistent_load;
};

/// Handlers for plain Python data types that pickles build through globals: collections.OrderedDict,
/// builtins.set/frozenset/bytearray, _codecs.encode (protocol-2 bytes), copyreg._reconstructor (an inert
/// placeholder named after the class it would build).
UnpickleHooks python_data_hooks();

/// True for globals that exist to run code (os.system, subprocess.Popen, builtins.eval, ...).
bool is_forbidden_global(const std::string& module, const std::string& name);

/// Unpickles `size` bytes. `what` names the source in error messages (file and record).
/// Errors: ModelLoadFailed for malformed data, UnsupportedModel for forbidden globals or opcodes Kinora does
/// not read; messages say which opcode/global and at which byte.
Expected<ValuePtr> unpickle(const std::uint8_t* data, std::size_t size, const UnpickleHooks& hooks,
                            const std::string& what);

}  // namespace engine::io::pickle
