#include "io/pickle.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <unordered_set>

namespace engine::io::pickle {
namespace {

// Opcodes (CPython Lib/pickle.py names).
enum Op : std::uint8_t {
    MARK = '(',
    STOP = '.',
    POP = '0',
    POP_MARK = '1',
    DUP = '2',
    FLOAT = 'F',
    INT = 'I',
    BININT = 'J',
    BININT1 = 'K',
    LONG = 'L',
    BININT2 = 'M',
    NONE = 'N',
    PERSID = 'P',
    BINPERSID = 'Q',
    REDUCE = 'R',
    STRING = 'S',
    BINSTRING = 'T',
    SHORT_BINSTRING = 'U',
    UNICODE = 'V',
    BINUNICODE = 'X',
    APPEND = 'a',
    BUILD = 'b',
    GLOBAL = 'c',
    DICT = 'd',
    EMPTY_DICT = '}',
    APPENDS = 'e',
    GET = 'g',
    BINGET = 'h',
    INST = 'i',
    LONG_BINGET = 'j',
    LIST = 'l',
    EMPTY_LIST = ']',
    OBJ = 'o',
    PUT = 'p',
    BINPUT = 'q',
    LONG_BINPUT = 'r',
    SETITEM = 's',
    TUPLE = 't',
    EMPTY_TUPLE = ')',
    SETITEMS = 'u',
    BINFLOAT = 'G',
    // protocol 2
    PROTO = 0x80,
    NEWOBJ = 0x81,
    EXT1 = 0x82,
    EXT2 = 0x83,
    EXT4 = 0x84,
    TUPLE1 = 0x85,
    TUPLE2 = 0x86,
    TUPLE3 = 0x87,
    NEWTRUE = 0x88,
    NEWFALSE = 0x89,
    LONG1 = 0x8a,
    LONG4 = 0x8b,
    // protocol 3
    BINBYTES = 'B',
    SHORT_BINBYTES = 'C',
    // protocol 4
    SHORT_BINUNICODE = 0x8c,
    BINUNICODE8 = 0x8d,
    BINBYTES8 = 0x8e,
    EMPTY_SET = 0x8f,
    ADDITEMS = 0x90,
    FROZENSET = 0x91,
    NEWOBJ_EX = 0x92,
    STACK_GLOBAL = 0x93,
    MEMOIZE = 0x94,
    FRAME = 0x95,
    // protocol 5
    BYTEARRAY8 = 0x96,
    NEXT_BUFFER = 0x97,
    READONLY_BUFFER = 0x98,
};

constexpr int kHighestProtocol = 5;

std::string op_name(std::uint8_t op) {
    char buf[16];
    if (op >= 0x20 && op < 0x7f) {
        std::snprintf(buf, sizeof(buf), "'%c'", static_cast<char>(op));
    } else {
        std::snprintf(buf, sizeof(buf), "0x%02x", op);
    }
    return buf;
}

ValuePtr make(Kind kind) {
    auto v = std::make_shared<Value>();
    v->kind = kind;
    return v;
}

// A hashable identity for dict keys: equal Python keys give equal strings (1 == 1.0 == True, as in Python).
std::string key_repr(const Value& v, int depth = 0) {
    switch (v.kind) {
        case Kind::None:
            return "n";
        case Kind::Bool:
            return "i" + std::to_string(v.boolean ? 1 : 0);
        case Kind::Int:
            return "i" + std::to_string(v.integer);
        case Kind::Float: {
            if (std::isfinite(v.real) && v.real == std::floor(v.real) && std::fabs(v.real) < 9.2e18) {
                return "i" + std::to_string(static_cast<std::int64_t>(v.real));
            }
            char buf[40];
            std::snprintf(buf, sizeof(buf), "f%a", v.real);
            return buf;
        }
        case Kind::String:
            return "s" + std::to_string(v.text.size()) + ":" + v.text;
        case Kind::Bytes:
            return "b" + std::to_string(v.text.size()) + ":" + v.text;
        case Kind::Tuple: {
            if (depth > 32) break;
            std::string out = "t" + std::to_string(v.items.size()) + "(";
            for (const auto& item : v.items) out += key_repr(*item, depth + 1) + ",";
            return out + ")";
        }
        default:
            break;
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf), "p%p", static_cast<const void*>(&v));
    return buf;
}

class Unpickler {
public:
    Unpickler(const std::uint8_t* data, std::size_t size, const UnpickleHooks& hooks)
        : data_(data), size_(size), hooks_(hooks) {}

    ValuePtr run();
    /// Unpickled graphs can hold reference cycles (memo references appended into themselves), which
    /// shared_ptr would leak. Cycles reachable from `root` get their closing edge replaced by an inert
    /// placeholder; containers not reachable from `root` (all of them after a failure) lose their links.
    void release(const ValuePtr& root);
    std::size_t op_offset() const { return op_offset_; }
    std::uint8_t op() const { return op_; }

private:
    // Reading, bounds-checked.
    const std::uint8_t* take(std::uint64_t n) {
        if (n > size_ - pos_) {
            throw PickleError("the data ends in the middle of an opcode (needs " + std::to_string(n) + " more bytes, " +
                              std::to_string(size_ - pos_) + " left)");
        }
        const std::uint8_t* p = data_ + pos_;
        pos_ += static_cast<std::size_t>(n);
        return p;
    }
    std::uint64_t read_le(int bytes) {
        const std::uint8_t* p = take(static_cast<std::uint64_t>(bytes));
        std::uint64_t v = 0;
        for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
        return v;
    }
    std::string read_line() {
        const std::size_t start = pos_;
        while (pos_ < size_ && data_[pos_] != '\n') ++pos_;
        if (pos_ >= size_) throw PickleError("the data ends inside a text argument");
        std::string line(reinterpret_cast<const char*>(data_ + start), pos_ - start);
        ++pos_;  // the newline
        return line;
    }
    std::string read_string(std::uint64_t n) {
        const std::uint8_t* p = take(n);
        return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    }

    // Stack.
    void push(ValuePtr v) {
        if (v->kind != Kind::None && v->kind != Kind::Bool && v->kind != Kind::Int && v->kind != Kind::Float &&
            v->kind != Kind::String && v->kind != Kind::Bytes && v->kind != Kind::Global) {
            created_.push_back(v);
        }
        stack_.push_back(std::move(v));
    }
    ValuePtr pop() {
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) {
            throw PickleError("stack underflow (the opcode needs a value the pickle never pushed)");
        }
        ValuePtr v = std::move(stack_.back());
        stack_.pop_back();
        return v;
    }
    ValuePtr& top() {
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) {
            throw PickleError("stack underflow (the opcode needs a value the pickle never pushed)");
        }
        return stack_.back();
    }
    std::vector<ValuePtr> pop_mark() {
        if (marks_.empty()) throw PickleError("no MARK to pop to");
        const std::size_t m = marks_.back();
        marks_.pop_back();
        std::vector<ValuePtr> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                                    std::make_move_iterator(stack_.end()));
        stack_.resize(m);
        return items;
    }

    void memo_put(std::uint64_t index) { memo_[index] = top(); }
    ValuePtr memo_get(std::uint64_t index) {
        auto it = memo_.find(index);
        if (it == memo_.end()) throw PickleError("memo key " + std::to_string(index) + " was never stored");
        return it->second;
    }

    ValuePtr resolve_global(const std::string& module, const std::string& name);
    ValuePtr call(const ValuePtr& callable, std::vector<ValuePtr> args);
    void set_items(Value& target, std::vector<ValuePtr>& kv);
    void append_items(Value& target, std::vector<ValuePtr> items);
    ValuePtr decode_long(const std::uint8_t* p, std::size_t n);
    ValuePtr text_int(const std::string& line, bool is_long);

    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
    const UnpickleHooks& hooks_;
    std::vector<ValuePtr> stack_;
    std::vector<std::size_t> marks_;
    std::unordered_map<std::uint64_t, ValuePtr> memo_;
    std::vector<std::weak_ptr<Value>> created_;  // every container pushed, for release()
    std::size_t op_offset_ = 0;
    std::uint8_t op_ = 0;
};

ValuePtr Unpickler::resolve_global(const std::string& module, const std::string& name) {
    if (is_forbidden_global(module, name)) {
        throw PickleError("forbidden global " + module + "." + name +
                              ": this file runs code when PyTorch loads it and may be malicious. Kinora refuses "
                              "it; do not open it with torch.load either.",
                          ErrorCode::ModelLoadFailed);
    }
    const std::string full = module + "." + name;
    if (auto c = hooks_.constants.find(full); c != hooks_.constants.end()) return c->second;
    auto g = make(Kind::Global);
    g->text = full;
    g->callable = hooks_.callables.count(full) != 0;
    return g;
}

ValuePtr Unpickler::call(const ValuePtr& callable, std::vector<ValuePtr> args) {
    if (callable->kind == Kind::Global && callable->callable) {
        return hooks_.callables.at(callable->text)(args);
    }
    // Not on the allow-list: an inert record of the call, never executed.
    auto obj = make(Kind::Object);
    if (callable->kind == Kind::Global || callable->kind == Kind::Object) {
        obj->text = callable->text;
        obj->reason = callable->reason;
    } else {
        obj->text = "a call of " + describe(*callable);
    }
    obj->items = std::move(args);
    return obj;
}

void Unpickler::set_items(Value& target, std::vector<ValuePtr>& kv) {
    if (kv.size() % 2 != 0) throw PickleError("SETITEMS with an odd number of values");
    if (target.kind == Kind::Dict) {
        for (std::size_t i = 0; i < kv.size(); i += 2) dict_set(target, kv[i], kv[i + 1]);
    } else if (target.kind == Kind::Object) {
        for (std::size_t i = 0; i < kv.size(); i += 2) target.entries.emplace_back(kv[i], kv[i + 1]);
    } else {
        throw PickleError("SETITEM on " + describe(target) + ", which is not a dict");
    }
}

void Unpickler::append_items(Value& target, std::vector<ValuePtr> items) {
    if (target.kind == Kind::List || target.kind == Kind::Object) {
        for (auto& item : items) target.items.push_back(std::move(item));
    } else {
        throw PickleError("APPEND on " + describe(target) + ", which is not a list");
    }
}

ValuePtr Unpickler::decode_long(const std::uint8_t* p, std::size_t n) {
    // Two's complement, little-endian. It fits in int64 when every byte past the 8th is sign extension.
    if (n == 0) return make_int(0);
    if (n > 8) {
        const std::uint8_t ext = (p[7] & 0x80) != 0 ? 0xFF : 0x00;
        for (std::size_t i = 8; i < n; ++i) {
            if (p[i] != ext) {
                auto big = make(Kind::Object);
                big->text = "int";
                big->reason = "an integer wider than 64 bits";
                return big;
            }
        }
    }
    const std::size_t m = n < 8 ? n : 8;
    std::uint64_t v = 0;
    for (std::size_t i = m; i-- > 0;) v = (v << 8) | p[i];
    if (m < 8 && (p[m - 1] & 0x80) != 0) v |= ~std::uint64_t{0} << (8 * m);
    return make_int(static_cast<std::int64_t>(v));
}

ValuePtr Unpickler::text_int(const std::string& line, bool is_long) {
    std::string digits = line;
    if (is_long && !digits.empty() && digits.back() == 'L') digits.pop_back();
    if (!is_long && digits == "00") return make_bool(false);
    if (!is_long && digits == "01") return make_bool(true);
    try {
        std::size_t used = 0;
        const long long v = std::stoll(digits, &used, 10);
        if (used != digits.size()) throw PickleError("bad integer text '" + line + "'");
        return make_int(v);
    } catch (const std::out_of_range&) {
        auto big = make(Kind::Object);
        big->text = "int";
        big->reason = "an integer wider than 64 bits";
        return big;
    } catch (const std::invalid_argument&) {
        throw PickleError("bad integer text '" + line + "'");
    }
}

ValuePtr Unpickler::run() {
    while (true) {
        op_offset_ = pos_;
        op_ = *take(1);
        switch (op_) {
            case PROTO: {
                const int proto = *take(1);
                if (proto > kHighestProtocol) {
                    throw PickleError("pickle protocol " + std::to_string(proto) + " is newer than the " +
                                          std::to_string(kHighestProtocol) + " Kinora reads",
                                      ErrorCode::UnsupportedModel);
                }
                break;
            }
            case FRAME: {
                const std::uint64_t n = read_le(8);
                if (n > size_ - pos_) throw PickleError("a FRAME runs past the end of the data");
                break;
            }
            case STOP: {
                if (stack_.size() != 1 || !marks_.empty()) {
                    throw PickleError("STOP with " + std::to_string(stack_.size()) + " values on the stack");
                }
                return stack_.back();
            }
            case MARK:
                marks_.push_back(stack_.size());
                break;
            case POP:
                if (!stack_.empty() && (marks_.empty() || stack_.size() > marks_.back())) {
                    stack_.pop_back();
                } else if (!marks_.empty() && stack_.size() == marks_.back()) {
                    marks_.pop_back();  // POP of a MARK, as CPython does
                } else {
                    throw PickleError("POP on an empty stack");
                }
                break;
            case POP_MARK:
                pop_mark();
                break;
            case DUP:
                push(top());
                break;

            // Scalars.
            case NONE:
                push(make_none());
                break;
            case NEWTRUE:
                push(make_bool(true));
                break;
            case NEWFALSE:
                push(make_bool(false));
                break;
            case BININT:
                push(make_int(static_cast<std::int32_t>(static_cast<std::uint32_t>(read_le(4)))));
                break;
            case BININT1:
                push(make_int(static_cast<std::int64_t>(read_le(1))));
                break;
            case BININT2:
                push(make_int(static_cast<std::int64_t>(read_le(2))));
                break;
            case LONG1: {
                const std::size_t n = static_cast<std::size_t>(read_le(1));
                push(decode_long(take(n), n));
                break;
            }
            case LONG4: {
                const auto n = static_cast<std::int32_t>(static_cast<std::uint32_t>(read_le(4)));
                if (n < 0) throw PickleError("LONG4 with a negative length");
                push(decode_long(take(static_cast<std::uint64_t>(n)), static_cast<std::size_t>(n)));
                break;
            }
            case INT:
                push(text_int(read_line(), false));
                break;
            case LONG:
                push(text_int(read_line(), true));
                break;
            case BINFLOAT: {
                const std::uint8_t* p = take(8);
                std::uint64_t bits = 0;
                for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];  // big-endian
                double d = 0;
                std::memcpy(&d, &bits, sizeof(d));
                push(make_float(d));
                break;
            }
            case FLOAT: {
                const std::string line = read_line();
                char* end = nullptr;
                const double d = std::strtod(line.c_str(), &end);
                if (end == line.c_str() || *end != '\0') throw PickleError("bad float text '" + line + "'");
                push(make_float(d));
                break;
            }

            // Strings and bytes.
            case BINUNICODE:
                push(make_string(read_string(read_le(4))));
                break;
            case SHORT_BINUNICODE:
                push(make_string(read_string(read_le(1))));
                break;
            case BINUNICODE8:
                push(make_string(read_string(read_le(8))));
                break;
            case BINSTRING: {
                const auto n = static_cast<std::int32_t>(static_cast<std::uint32_t>(read_le(4)));
                if (n < 0) throw PickleError("BINSTRING with a negative length");
                push(make_string(read_string(static_cast<std::uint64_t>(n))));
                break;
            }
            case SHORT_BINSTRING:
                push(make_string(read_string(read_le(1))));
                break;
            case BINBYTES:
                push(make_bytes(read_string(read_le(4))));
                break;
            case SHORT_BINBYTES:
                push(make_bytes(read_string(read_le(1))));
                break;
            case BINBYTES8:
                push(make_bytes(read_string(read_le(8))));
                break;
            case BYTEARRAY8:
                push(make_bytes(read_string(read_le(8))));
                break;

            // Containers.
            case EMPTY_DICT:
                push(make_dict());
                break;
            case EMPTY_LIST:
                push(make_list({}));
                break;
            case EMPTY_TUPLE:
                push(make_tuple({}));
                break;
            case EMPTY_SET:
                push(make(Kind::Set));
                break;
            case TUPLE:
                push(make_tuple(pop_mark()));
                break;
            case TUPLE1: {
                auto a = pop();
                push(make_tuple({std::move(a)}));
                break;
            }
            case TUPLE2: {
                auto b = pop();
                auto a = pop();
                push(make_tuple({std::move(a), std::move(b)}));
                break;
            }
            case TUPLE3: {
                auto c = pop();
                auto b = pop();
                auto a = pop();
                push(make_tuple({std::move(a), std::move(b), std::move(c)}));
                break;
            }
            case LIST:
                push(make_list(pop_mark()));
                break;
            case DICT: {
                auto kv = pop_mark();
                auto d = make_dict();
                set_items(*d, kv);
                push(std::move(d));
                break;
            }
            case FROZENSET: {
                auto s = make(Kind::Set);
                s->items = pop_mark();
                push(std::move(s));
                break;
            }
            case APPEND: {
                auto item = pop();
                append_items(*top(), {std::move(item)});
                break;
            }
            case APPENDS: {
                auto items = pop_mark();
                append_items(*top(), std::move(items));
                break;
            }
            case SETITEM: {
                auto value = pop();
                auto key = pop();
                std::vector<ValuePtr> kv{std::move(key), std::move(value)};
                set_items(*top(), kv);
                break;
            }
            case SETITEMS: {
                auto kv = pop_mark();
                set_items(*top(), kv);
                break;
            }
            case ADDITEMS: {
                auto items = pop_mark();
                Value& s = *top();
                if (s.kind != Kind::Set) throw PickleError("ADDITEMS on " + describe(s) + ", which is not a set");
                for (auto& item : items) s.items.push_back(std::move(item));
                break;
            }

            // Memo.
            case BINPUT:
                memo_put(read_le(1));
                break;
            case LONG_BINPUT:
                memo_put(read_le(4));
                break;
            case MEMOIZE:
                memo_put(memo_.size());
                break;
            case PUT: {
                const std::string line = read_line();
                const ValuePtr idx = text_int(line, false);
                if (idx->kind != Kind::Int || idx->integer < 0) throw PickleError("bad PUT index '" + line + "'");
                memo_put(static_cast<std::uint64_t>(idx->integer));
                break;
            }
            case BINGET:
                push(memo_get(read_le(1)));
                break;
            case LONG_BINGET:
                push(memo_get(read_le(4)));
                break;
            case GET: {
                const std::string line = read_line();
                const ValuePtr idx = text_int(line, false);
                if (idx->kind != Kind::Int || idx->integer < 0) throw PickleError("bad GET index '" + line + "'");
                push(memo_get(static_cast<std::uint64_t>(idx->integer)));
                break;
            }

            // Globals and calls: resolved through the hooks, never executed.
            case GLOBAL: {
                const std::string module = read_line();
                const std::string name = read_line();
                push(resolve_global(module, name));
                break;
            }
            case STACK_GLOBAL: {
                auto name = pop();
                auto module = pop();
                if (module->kind != Kind::String || name->kind != Kind::String) {
                    throw PickleError("STACK_GLOBAL needs two strings, got " + describe(*module) + " and " +
                                      describe(*name));
                }
                push(resolve_global(module->text, name->text));
                break;
            }
            case REDUCE: {
                auto args = pop();
                auto callable = pop();
                if (args->kind != Kind::Tuple) {
                    throw PickleError("REDUCE arguments are " + describe(*args) + ", not a tuple");
                }
                push(call(callable, args->items));
                break;
            }
            case NEWOBJ: {
                auto args = pop();
                auto cls = pop();
                if (args->kind != Kind::Tuple) {
                    throw PickleError("NEWOBJ arguments are " + describe(*args) + ", not a tuple");
                }
                push(call(cls, args->items));
                break;
            }
            case NEWOBJ_EX: {
                auto kwargs = pop();
                auto args = pop();
                auto cls = pop();
                if (args->kind != Kind::Tuple || kwargs->kind != Kind::Dict) {
                    throw PickleError("NEWOBJ_EX needs a tuple and a dict of arguments");
                }
                if (!kwargs->entries.empty() && cls->kind == Kind::Global && cls->callable) {
                    throw PickleError(cls->text + " called with keyword arguments, which Kinora does not support",
                                      ErrorCode::UnsupportedModel);
                }
                push(call(cls, args->items));
                break;
            }
            case INST: {
                const std::string module = read_line();
                const std::string name = read_line();
                auto cls = resolve_global(module, name);
                push(call(cls, pop_mark()));
                break;
            }
            case OBJ: {
                auto items = pop_mark();
                if (items.empty()) throw PickleError("OBJ without a class");
                auto cls = items.front();
                items.erase(items.begin());
                push(call(cls, std::move(items)));
                break;
            }
            case BUILD: {
                auto state = pop();
                Value& obj = *top();
                // Python would call __setstate__ or update __dict__; the state is kept, never applied.
                if (obj.kind == Kind::Dict || obj.kind == Kind::Object || obj.kind == Kind::Native) {
                    obj.state = std::move(state);
                } else {
                    throw PickleError("BUILD on " + describe(obj));
                }
                break;
            }
            case BINPERSID: {
                auto pid = pop();
                if (!hooks_.persistent_load) throw PickleError("a persistent id, but this pickle should have none");
                push(hooks_.persistent_load(pid));
                break;
            }
            case PERSID: {
                auto pid = make_string(read_line());
                if (!hooks_.persistent_load) throw PickleError("a persistent id, but this pickle should have none");
                push(hooks_.persistent_load(pid));
                break;
            }
            case EXT1:
            case EXT2:
            case EXT4:
                throw PickleError("opcode " + op_name(op_) + " (copyreg extension registry) is not supported",
                                  ErrorCode::UnsupportedModel);
            case NEXT_BUFFER:
            case READONLY_BUFFER:
                throw PickleError("opcode " + op_name(op_) + " (out-of-band buffers) is not supported",
                                  ErrorCode::UnsupportedModel);
            case STRING:
            case UNICODE:
                throw PickleError("opcode " + op_name(op_) + " (protocol-0 text strings) is not supported",
                                  ErrorCode::UnsupportedModel);
            default:
                throw PickleError("unknown opcode " + op_name(op_));
        }
    }
}

// Modules whose globals exist to run commands, load code or touch the system. Never legitimate in a checkpoint.
// Edge k of a value: items, then entry keys and values, then the BUILD state (nullptr past the end).
ValuePtr* edge(Value& v, std::size_t k) {
    if (k < v.items.size()) return &v.items[k];
    k -= v.items.size();
    if (k < 2 * v.entries.size()) return k % 2 == 0 ? &v.entries[k / 2].first : &v.entries[k / 2].second;
    k -= 2 * v.entries.size();
    return k == 0 ? &v.state : nullptr;
}

ValuePtr cycle_placeholder() {
    auto p = make(Kind::Object);
    p->text = "a reference cycle";
    p->reason = "a self-referencing structure";
    return p;
}

const std::set<std::string>& forbidden_modules() {
    static const std::set<std::string> modules = {"os",     "posix",  "nt",        "subprocess",      "sys",
                                                  "shutil", "socket", "importlib", "runpy",           "pty",
                                                  "ctypes", "pickle", "_pickle",   "marshal",         "webbrowser",
                                                  "code",   "codeop", "commands",  "multiprocessing", "signal",
                                                  "pdb",    "timeit", "asyncio",   "shelve",          "http",
                                                  "urllib", "ftplib", "smtplib",   "telnetlib"};
    return modules;
}

bool utf8_to_latin1(const std::string& s, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
            i += 1;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
            const unsigned cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
            if (cp > 0xFF) return false;
            out.push_back(static_cast<char>(cp));
            i += 2;
        } else {
            return false;
        }
    }
    return true;
}

}  // namespace

void Unpickler::release(const ValuePtr& root) {
    // Iterative depth-first search: 1 = on the current path, 2 = finished.
    std::unordered_map<const Value*, int> color;
    if (root) {
        struct Frame {
            Value* v;
            std::size_t next;
        };
        std::vector<Frame> path{{root.get(), 0}};
        color[root.get()] = 1;
        while (!path.empty()) {
            Frame& f = path.back();
            ValuePtr* slot = edge(*f.v, f.next++);
            if (slot == nullptr) {
                color[f.v] = 2;
                path.pop_back();
                continue;
            }
            Value* child = slot->get();
            if (child == nullptr) continue;
            auto it = color.find(child);
            if (it == color.end()) {
                color[child] = 1;
                path.push_back({child, 0});  // invalidates f; not used below
            } else if (it->second == 1) {
                *slot = cycle_placeholder();  // closes a cycle: cut it
            }
        }
    }
    for (auto& weak : created_) {
        if (ValuePtr v = weak.lock(); v && color.count(v.get()) == 0) {
            v->items.clear();
            v->entries.clear();
            v->state.reset();
        }
    }
}

const char* to_string(Kind kind) noexcept {
    switch (kind) {
        case Kind::None:
            return "None";
        case Kind::Bool:
            return "bool";
        case Kind::Int:
            return "int";
        case Kind::Float:
            return "float";
        case Kind::String:
            return "str";
        case Kind::Bytes:
            return "bytes";
        case Kind::Tuple:
            return "tuple";
        case Kind::List:
            return "list";
        case Kind::Dict:
            return "dict";
        case Kind::Set:
            return "set";
        case Kind::Global:
            return "global";
        case Kind::Object:
            return "object";
        case Kind::Native:
            return "native";
    }
    return "?";
}

Value::~Value() {
    // Children are released iteratively: a deeply nested (hostile) pickle must not overflow the stack through
    // recursive shared_ptr destruction.
    if (items.empty() && entries.empty() && !state) return;
    std::vector<ValuePtr> work;
    auto drain = [&work](Value& v) {
        for (auto& item : v.items) work.push_back(std::move(item));
        v.items.clear();
        for (auto& [k, x] : v.entries) {
            work.push_back(std::move(k));
            work.push_back(std::move(x));
        }
        v.entries.clear();
        if (v.state) work.push_back(std::move(v.state));
    };
    drain(*this);
    while (!work.empty()) {
        ValuePtr p = std::move(work.back());
        work.pop_back();
        if (p && p.use_count() == 1) drain(*p);
    }
}

const ValuePtr* Value::find(const std::string& key) const {
    if (kind != Kind::Dict) return nullptr;
    auto it = key_index_.find("s" + std::to_string(key.size()) + ":" + key);
    return it == key_index_.end() ? nullptr : &entries[it->second].second;
}

ValuePtr make_none() {
    return make(Kind::None);
}
ValuePtr make_bool(bool v) {
    auto p = make(Kind::Bool);
    p->boolean = v;
    return p;
}
ValuePtr make_int(std::int64_t v) {
    auto p = make(Kind::Int);
    p->integer = v;
    return p;
}
ValuePtr make_float(double v) {
    auto p = make(Kind::Float);
    p->real = v;
    return p;
}
ValuePtr make_string(std::string v) {
    auto p = make(Kind::String);
    p->text = std::move(v);
    return p;
}
ValuePtr make_bytes(std::string v) {
    auto p = make(Kind::Bytes);
    p->text = std::move(v);
    return p;
}
ValuePtr make_tuple(std::vector<ValuePtr> items) {
    auto p = make(Kind::Tuple);
    p->items = std::move(items);
    return p;
}
ValuePtr make_list(std::vector<ValuePtr> items) {
    auto p = make(Kind::List);
    p->items = std::move(items);
    return p;
}
ValuePtr make_dict() {
    return make(Kind::Dict);
}
ValuePtr make_native(std::string tag, std::any payload) {
    auto p = make(Kind::Native);
    p->text = std::move(tag);
    p->native = std::move(payload);
    return p;
}

void dict_set(Value& dict, ValuePtr key, ValuePtr value) {
    const std::string k = key_repr(*key);
    auto it = dict.key_index_.find(k);
    if (it != dict.key_index_.end()) {
        dict.entries[it->second].second = std::move(value);
    } else {
        dict.key_index_.emplace(k, dict.entries.size());
        dict.entries.emplace_back(std::move(key), std::move(value));
    }
}

std::string describe(const Value& v) {
    switch (v.kind) {
        case Kind::None:
            return "None";
        case Kind::Bool:
            return v.boolean ? "True" : "False";
        case Kind::Int:
            return "int " + std::to_string(v.integer);
        case Kind::Float: {
            char buf[40];
            std::snprintf(buf, sizeof(buf), "float %.17g", v.real);
            return buf;
        }
        case Kind::String:
            return "str '" + (v.text.size() > 60 ? v.text.substr(0, 60) + "..." : v.text) + "'";
        case Kind::Bytes:
            return "bytes (" + std::to_string(v.text.size()) + ")";
        case Kind::Tuple:
            return "tuple (" + std::to_string(v.items.size()) + " items)";
        case Kind::List:
            return "list (" + std::to_string(v.items.size()) + " items)";
        case Kind::Dict:
            return "dict (" + std::to_string(v.entries.size()) + " entries)";
        case Kind::Set:
            return "set (" + std::to_string(v.items.size()) + " items)";
        case Kind::Global:
            return "global " + v.text;
        case Kind::Object:
            return "object built by " + v.text;
        case Kind::Native:
            return v.text;
    }
    return "?";
}

const Value* find_placeholder(const Value& root, int max_depth) {
    std::unordered_set<const Value*> seen;
    std::vector<std::pair<const Value*, int>> todo{{&root, 0}};
    while (!todo.empty()) {
        auto [v, depth] = todo.back();
        todo.pop_back();
        if (v == nullptr || !seen.insert(v).second) continue;
        if ((v->kind == Kind::Global && !v->callable) || v->kind == Kind::Object) return v;
        if (depth >= max_depth) continue;
        for (const auto& item : v->items) todo.emplace_back(item.get(), depth + 1);
        for (const auto& [k, val] : v->entries) {
            todo.emplace_back(k.get(), depth + 1);
            todo.emplace_back(val.get(), depth + 1);
        }
    }
    return nullptr;
}

void require_no_placeholder(const Value& v, const std::string& what) {
    const Value* p = find_placeholder(v);
    if (p == nullptr) return;
    std::string msg = what + " would be built by ";
    if (p->reason.empty()) {
        msg += "forbidden global " + p->text +
               ", which is not on Kinora's list of safe checkpoint contents (Kinora never runs code from a "
               "checkpoint)";
    } else {
        msg += p->text + " (" + p->reason + "), which Kinora does not support";
    }
    throw PickleError(msg, ErrorCode::UnsupportedModel);
}

bool is_forbidden_global(const std::string& module, const std::string& name) {
    const std::string root = module.substr(0, module.find('.'));
    if (forbidden_modules().count(root) != 0) return true;
    if (module == "builtins" || module == "__builtin__") {
        static const std::set<std::string> names = {"eval", "exec",    "execfile",   "compile", "__import__",
                                                    "open", "input",   "breakpoint", "globals", "locals",
                                                    "vars", "setattr", "delattr",    "exit",    "quit"};
        return names.count(name) != 0;
    }
    return false;
}

UnpickleHooks python_data_hooks() {
    UnpickleHooks h;
    auto ordered_dict = [](const std::vector<ValuePtr>& args) {
        auto d = make_dict();
        if (args.size() > 1) {
            throw PickleError("collections.OrderedDict with " + std::to_string(args.size()) + " arguments");
        }
        if (args.size() == 1) {
            const Value& pairs = *args[0];
            if (pairs.kind != Kind::List && pairs.kind != Kind::Tuple) {
                throw PickleError("collections.OrderedDict of " + describe(pairs));
            }
            for (const auto& p : pairs.items) {
                if ((p->kind != Kind::Tuple && p->kind != Kind::List) || p->items.size() != 2) {
                    throw PickleError("collections.OrderedDict item " + describe(*p) + " is not a pair");
                }
                dict_set(*d, p->items[0], p->items[1]);
            }
        }
        return d;
    };
    h.callables["collections.OrderedDict"] = ordered_dict;
    auto set_of = [](const std::vector<ValuePtr>& args) {
        auto s = make(Kind::Set);
        if (args.size() == 1 &&
            (args[0]->kind == Kind::List || args[0]->kind == Kind::Tuple || args[0]->kind == Kind::Set)) {
            s->items = args[0]->items;
        } else if (!args.empty()) {
            throw PickleError("set/frozenset of " + describe(*args[0]));
        }
        return s;
    };
    for (const char* m : {"builtins", "__builtin__"}) {
        h.callables[std::string(m) + ".set"] = set_of;
        h.callables[std::string(m) + ".frozenset"] = set_of;
    }
    auto encode = [](const std::vector<ValuePtr>& args) {
        // Protocol 2 writes bytes as _codecs.encode(str_of_latin1_code_points, 'latin1').
        if (args.empty() || args[0]->kind != Kind::String) throw PickleError("_codecs.encode needs a str");
        if (args.size() >= 2 &&
            (args[1]->kind != Kind::String || (args[1]->text != "latin1" && args[1]->text != "latin-1"))) {
            throw PickleError("_codecs.encode with an encoding other than latin1", ErrorCode::UnsupportedModel);
        }
        std::string out;
        if (args.size() == 1) {
            out = args[0]->text;  // utf-8, the default encoding
        } else if (!utf8_to_latin1(args[0]->text, out)) {
            throw PickleError("_codecs.encode: the str has characters outside latin1");
        }
        return make_bytes(std::move(out));
    };
    h.callables["_codecs.encode"] = encode;
    auto bytearray = [encode](const std::vector<ValuePtr>& args) {
        if (args.empty()) return make_bytes({});
        if (args[0]->kind == Kind::Bytes) return make_bytes(args[0]->text);
        if (args[0]->kind == Kind::String) return encode(args);
        throw PickleError("bytearray of " + describe(*args[0]));
    };
    h.callables["builtins.bytearray"] = bytearray;
    h.callables["__builtin__.bytearray"] = bytearray;
    auto reconstructor = [](const std::vector<ValuePtr>& args) {
        // copyreg._reconstructor(cls, base, state) would run object.__new__(cls): record it instead.
        auto obj = make(Kind::Object);
        if (!args.empty() && (args[0]->kind == Kind::Global || args[0]->kind == Kind::Object)) {
            obj->text = args[0]->text;
            obj->reason = args[0]->reason;
        } else {
            obj->text = "copyreg._reconstructor";
        }
        obj->items = args;
        return obj;
    };
    h.callables["copyreg._reconstructor"] = reconstructor;
    h.callables["copy_reg._reconstructor"] = reconstructor;
    return h;
}

Expected<ValuePtr> unpickle(const std::uint8_t* data, std::size_t size, const UnpickleHooks& hooks,
                            const std::string& what) {
    Unpickler u(data, size, hooks);
    auto where = [&] { return " (opcode " + op_name(u.op()) + " at byte " + std::to_string(u.op_offset()) + ")"; };
    std::optional<Error> error;
    ValuePtr root;
    try {
        root = u.run();
    } catch (const PickleError& e) {
        error = Error{e.code(), what + ": " + e.what() + where()};
    } catch (const std::bad_alloc&) {
        error = Error{ErrorCode::OutOfMemory, what + ": out of memory while unpickling" + where()};
    } catch (const std::exception& e) {
        error = Error{ErrorCode::ModelLoadFailed, what + ": " + e.what() + where()};
    }
    u.release(root);
    if (error) return Unexpected{*error};
    return root;
}

}  // namespace engine::io::pickle
