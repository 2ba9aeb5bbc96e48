#!/usr/bin/env python3
"""Independent tensor manifests for checkpoint files, Python standard library only.

The C++ checkpoint readers are tested against this script's view of the same files. It shares no
code with them: safetensors headers are parsed with json/struct, PyTorch zip checkpoints with
zipfile and a pickle.Unpickler subclass that records storages instead of importing torch.

    golden_manifest.py manifest [--no-fnv] FILE...
                                          JSON: per file the tensors (name, dtype, shape, FNV-1a 64 and
                                          SHA-1 of the element bytes in row-major order, sample values)
                                          and the metadata. --no-fnv skips the (slow, pure Python) FNV.
    golden_manifest.py fp8                JSON: the value of each of the 256 e4m3fn and e5m2 codes

Dtypes are named as safetensors names them (F32, F16, BF16, F8_E4M3, I64, BOOL, ...). Non-finite
sample values are written as the strings "nan", "inf", "-inf" so the output is strict JSON.
"""
import collections
import hashlib
import json
import math
import pickle
import struct
import sys
import zipfile

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = 0xFFFFFFFFFFFFFFFF

ELEMENT_SIZE = {
    "F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
    "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
}

# torch storage class name -> dtype name
STORAGE_DTYPE = {
    "FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16", "DoubleStorage": "F64",
    "LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
    "ByteStorage": "U8", "BoolStorage": "BOOL", "UntypedStorage": "U8",
}
# torch dtype attribute name -> dtype name (the dtype argument of _rebuild_tensor_v3)
TORCH_DTYPE = {
    "float32": "F32", "float": "F32", "float16": "F16", "half": "F16", "bfloat16": "BF16", "float64": "F64",
    "double": "F64", "int64": "I64", "long": "I64", "int32": "I32", "int": "I32", "int16": "I16",
    "short": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL", "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2",
}


def fnv1a64(data):
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


# ---- element decoding (own formulas, by bit manipulation into float32/float64 patterns) ----

def f32_from_bits(bits):
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


def decode_minifloat(code, exp_bits, man_bits, bias, ieee_specials):
    """Decodes a small float by building the float32 bit pattern of the same value."""
    sign = (code >> (exp_bits + man_bits)) & 1
    exp = (code >> man_bits) & ((1 << exp_bits) - 1)
    man = code & ((1 << man_bits) - 1)
    exp_max = (1 << exp_bits) - 1
    if ieee_specials and exp == exp_max:  # e5m2: IEEE-style inf / NaN
        return float("nan") if man else (-math.inf if sign else math.inf)
    if not ieee_specials and exp == exp_max and man == (1 << man_bits) - 1:  # e4m3fn: only S.1111.111 is NaN
        return float("nan")
    if exp == 0:
        if man == 0:
            return f32_from_bits(sign << 31)
        # subnormal: shift the mantissa up until its leading one becomes the implicit bit
        e = 1 - bias
        while not (man & (1 << man_bits)):
            man <<= 1
            e -= 1
        man &= (1 << man_bits) - 1
        return f32_from_bits((sign << 31) | ((e + 127) << 23) | (man << (23 - man_bits)))
    return f32_from_bits((sign << 31) | ((exp - bias + 127) << 23) | (man << (23 - man_bits)))


def decode_element(dtype, b):
    if dtype == "F32":
        return struct.unpack("<f", b)[0]
    if dtype == "F64":
        return struct.unpack("<d", b)[0]
    if dtype == "F16":
        return struct.unpack("<e", b)[0]
    if dtype == "BF16":
        return f32_from_bits(int.from_bytes(b, "little") << 16)
    if dtype == "F8_E4M3":
        return decode_minifloat(b[0], 4, 3, 7, False)
    if dtype == "F8_E5M2":
        return decode_minifloat(b[0], 5, 2, 15, True)
    if dtype == "BOOL":
        return 1 if b[0] else 0
    signed = dtype.startswith("I")
    return int.from_bytes(b, "little", signed=signed)


def json_number(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def sample_indices(numel):
    if numel == 0:
        return []
    return sorted({0, numel // 3, numel // 2, (2 * numel) // 3, numel - 1})


WITH_FNV = True


def tensor_record(name, dtype, shape, data):
    """data: the element bytes in row-major order."""
    size = ELEMENT_SIZE[dtype]
    numel = len(data) // size
    samples = [[i, json_number(decode_element(dtype, data[i * size:(i + 1) * size]))] for i in sample_indices(numel)]
    return {"name": name, "dtype": dtype, "shape": list(shape), "numel": numel,
            "fnv1a64": "%016x" % fnv1a64(data) if WITH_FNV else None,
            "sha1": hashlib.sha1(data).hexdigest(), "samples": samples}


# ---- safetensors ----

def safetensors_manifest(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    tensors = []
    for name, info in sorted(header.items()):
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        tensors.append(tensor_record(name, info["dtype"], info["shape"], data[begin:end]))
    return {"path": path, "format": "safetensors", "tensors": tensors,
            "metadata": {k: str(v) for k, v in header.get("__metadata__", {}).items()}}


# ---- PyTorch zip checkpoints ----

class StorageType:
    def __init__(self, name):
        self.name = name


class StorageRef:
    def __init__(self, dtype, key, numel):
        self.dtype, self.key, self.numel = dtype, key, numel


class TensorRef:
    def __init__(self, storage, offset, size, stride, dtype=None):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)
        self.dtype = dtype or storage.dtype


class Placeholder:
    """Anything the checkpoint would build with code; never run, only recorded."""

    qualname = "?"

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state

    def append(self, item):
        pass

    def extend(self, items):
        pass

    def __setitem__(self, key, value):
        pass


class DType:
    def __init__(self, name):
        self.name = name


def placeholder_class(qualname):
    return type("Placeholder", (Placeholder,), {"qualname": qualname})


def rebuild_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    return TensorRef(storage, offset, size, stride)


def rebuild_v1(storage, offset, size, stride):
    return TensorRef(storage, offset, size, stride)


def rebuild_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    return TensorRef(storage, offset, size, stride, TORCH_DTYPE[dtype.name])


def rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    return data


class RecordingUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return rebuild_v2
        if module == "torch._utils" and name == "_rebuild_tensor":
            return rebuild_v1
        if module == "torch._utils" and name == "_rebuild_tensor_v3":
            return rebuild_v3
        if module == "torch._utils" and name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
            return rebuild_parameter
        if module in ("torch", "torch.storage", "torch.cuda") and name in STORAGE_DTYPE:
            return StorageType(name)
        if module == "torch" and name in TORCH_DTYPE:
            return DType(name)
        return placeholder_class(module + "." + name)

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid
        assert kind == "storage"
        return StorageRef(STORAGE_DTYPE[storage_type.name], key, numel)


def logical_bytes(t, storage_bytes):
    size = ELEMENT_SIZE[t.dtype]
    numel = 1
    for s in t.size:
        numel *= s
    if numel == 0:
        return b""
    contiguous = []
    acc = 1
    for s in reversed(t.size):
        contiguous.append(acc)
        acc *= s
    contiguous = tuple(reversed(contiguous))
    if all(st == c or sz == 1 for st, c, sz in zip(t.stride, contiguous, t.size)):
        return storage_bytes[t.offset * size:(t.offset + numel) * size]
    out = bytearray()
    index = [0] * len(t.size)
    for _ in range(numel):
        pos = t.offset + sum(i * st for i, st in zip(index, t.stride))
        out += storage_bytes[pos * size:(pos + 1) * size]
        for d in reversed(range(len(index))):
            index[d] += 1
            if index[d] < t.size[d]:
                break
            index[d] = 0
    return bytes(out)


def shortest_float(v):
    """The shortest '%g' text that reads back as v."""
    for precision in range(1, 18):
        text = "%.*g" % (precision, v)
        if float(text) == v:
            return text
    return "%.17g" % v


def select_state_dict(root):
    if isinstance(root, dict) and isinstance(root.get("state_dict"), dict):
        return "state_dict", root["state_dict"]
    for key in ("model_state_dict", "module", "model"):
        if isinstance(root, dict) and isinstance(root.get(key), dict):
            return key, root[key]
    return "", root


def ckpt_manifest(path):
    z = zipfile.ZipFile(path)
    names = z.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1][0]
    top = pkl[: -len("data.pkl")]
    root = RecordingUnpickler(z.open(pkl)).load()
    key, sd = select_state_dict(root)
    storages = {}
    tensors = []
    for name in sorted(sd):
        t = sd[name]
        if t.storage.key not in storages:
            storages[t.storage.key] = z.read(top + "data/" + t.storage.key)
        tensors.append(tensor_record(name, t.dtype, t.size, logical_bytes(t, storages[t.storage.key])))
    metadata = {}
    for k, v in root.items():
        if k == key:
            continue
        if isinstance(v, bool):
            metadata[k] = "true" if v else "false"
        elif isinstance(v, int) and -2 ** 63 <= v < 2 ** 63:  # wider integers are not kept as metadata
            metadata[k] = str(v)
        elif isinstance(v, str):
            metadata[k] = v
        elif isinstance(v, float):
            metadata[k] = shortest_float(v)
    return {"path": path, "format": "torch_zip", "state_dict_key": key, "tensors": tensors, "metadata": metadata}


def fp8_table():
    out = {}
    for kind, args in (("F8_E4M3", (4, 3, 7, False)), ("F8_E5M2", (5, 2, 15, True))):
        out[kind] = [json_number(decode_minifloat(code, *args)) for code in range(256)]
    return out


def main(argv):
    if len(argv) >= 2 and argv[1] == "fp8":
        json.dump(fp8_table(), sys.stdout)
        return 0
    if len(argv) >= 3 and argv[1] == "manifest":
        global WITH_FNV
        paths = argv[2:]
        if paths[0] == "--no-fnv":
            WITH_FNV = False
            paths = paths[1:]
        files = []
        for path in paths:
            with open(path, "rb") as f:
                magic = f.read(4)
            files.append(ckpt_manifest(path) if magic == b"PK\x03\x04" else safetensors_manifest(path))
        json.dump({"files": files}, sys.stdout)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
