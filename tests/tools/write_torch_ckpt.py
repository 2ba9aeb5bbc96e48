#!/usr/bin/env python3
"""Writes small PyTorch-format zip checkpoints for the reader tests, Python standard library only.

There is no torch here: stand-in modules named torch, torch._utils and numpy.core.multiarray are registered
so that CPython's own pickle.Pickler emits exactly the globals, persistent ids and opcodes torch.save emits
(_rebuild_tensor_v2 with ('storage', torch.FloatStorage, key, 'cpu', numel), OrderedDict state dicts with
_metadata, Lightning-style extras). The tests then compare our C++ reader with golden_manifest.py's view.

    write_torch_ckpt.py OUT [--protocol N] [--top NAME] [--layout lightning|plain|module|model]
                            [--no-align] [--bad-in-state-dict] [--fp8]
"""
import argparse
import argparse as _argparse_for_namespace
import collections
import io
import pickle
import struct
import sys
import types
import zipfile


# ---- stand-ins for the torch / numpy globals a checkpoint references ----

def _module(name):
    m = types.ModuleType(name)
    sys.modules[name] = m
    return m


torch = _module("torch")
torch_utils = _module("torch._utils")
torch._utils = torch_utils
numpy = _module("numpy")
numpy_core = _module("numpy.core")
numpy_multiarray = _module("numpy.core.multiarray")
numpy.core = numpy_core
numpy_core.multiarray = numpy_multiarray


def _export(module, obj, name):
    obj.__module__ = module.__name__
    obj.__qualname__ = name
    obj.__name__ = name
    setattr(module, name, obj)
    return obj


def _rebuild_tensor_v2(*args):
    raise RuntimeError("never called")


def _rebuild_tensor_v3(*args):
    raise RuntimeError("never called")


def _rebuild_parameter(*args):
    raise RuntimeError("never called")


def _scalar(*args):
    raise RuntimeError("never called")


_export(torch_utils, _rebuild_tensor_v2, "_rebuild_tensor_v2")
_export(torch_utils, _rebuild_tensor_v3, "_rebuild_tensor_v3")
_export(torch_utils, _rebuild_parameter, "_rebuild_parameter")
_export(numpy_multiarray, _scalar, "scalar")

STORAGE_CLASS = {}
for _name, _fmt in (("FloatStorage", "<f"), ("HalfStorage", "<e"), ("DoubleStorage", "<d"), ("LongStorage", "<q"),
                    ("IntStorage", "<i"), ("ShortStorage", "<h"), ("CharStorage", "<b"), ("ByteStorage", "<B"),
                    ("BoolStorage", "<?"), ("BFloat16Storage", None), ("UntypedStorage", None)):
    STORAGE_CLASS[_name] = _export(torch, type(_name, (), {}), _name)


class DType:
    """torch.float8_e4m3fn and friends pickle as the global torch.<name>."""

    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        return self.name  # pickled by reference as torch.<name>


for _dt in ("float8_e4m3fn", "float8_e5m2"):
    setattr(torch, _dt, DType(_dt))
    getattr(torch, _dt).__module__ = "torch"


# ---- storages and tensors ----

class Storage:
    def __init__(self, cls_name, key, data, numel):
        self.cls_name, self.key, self.data, self.numel = cls_name, key, data, numel


class Tensor:
    def __init__(self, storage, offset, size, stride, v3_dtype=None, parameter=False):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)
        self.v3_dtype, self.parameter = v3_dtype, parameter

    def __reduce_ex__(self, protocol):
        if self.v3_dtype is not None:
            inner = (_rebuild_tensor_v3, (self.storage, self.offset, self.size, self.stride, False,
                                          collections.OrderedDict(), getattr(torch, self.v3_dtype)))
        else:
            inner = (_rebuild_tensor_v2, (self.storage, self.offset, self.size, self.stride, False,
                                          collections.OrderedDict()))
        if self.parameter:
            return (_rebuild_parameter, (Plain(inner), True, collections.OrderedDict()))
        return inner


class Plain:
    """Pickles as the given reduce tuple (used to nest a tensor inside _rebuild_parameter)."""

    def __init__(self, reduce_value):
        self.reduce_value = reduce_value

    def __reduce_ex__(self, protocol):
        return self.reduce_value


class NumpyScalar:
    def __reduce__(self):
        return (_scalar, ("<f8-dtype-placeholder", b"\x00\x00\x00\x00\x00\x00\xf0\x3f"))


class CheckpointPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", STORAGE_CLASS[obj.cls_name], obj.key, "cpu", obj.numel)
        return None


def pack(fmt, values):
    return b"".join(struct.pack(fmt, v) for v in values)


def bf16(values):
    return b"".join(struct.pack("<f", v)[2:] for v in values)


def build(args):
    storages = []

    def storage(cls_name, data, numel):
        s = Storage(cls_name, str(len(storages)), data, numel)
        storages.append(s)
        return s

    f32 = storage("FloatStorage", pack("<f", [0.5 * i - 3.0 for i in range(12)]), 12)
    sd = collections.OrderedDict()
    sd["blocks.0.weight"] = Tensor(f32, 0, (3, 4), (4, 1))
    sd["blocks.0.weight_t"] = Tensor(f32, 0, (4, 3), (1, 4))          # transposed view of the same storage
    sd["blocks.0.bias"] = Tensor(f32, 2, (5,), (1,))                   # storage offset
    sd["blocks.0.strided"] = Tensor(f32, 1, (2, 3), (6, 2))            # non-contiguous with offset
    sd["blocks.0.expanded"] = Tensor(f32, 3, (2, 3), (0, 1))           # stride 0
    sd["half"] = Tensor(storage("HalfStorage", pack("<e", [1.5, -2.25, 65504.0, 6.1e-5, 0.0, -0.0]), 6), 0, (2, 3), (3, 1))
    sd["bf16"] = Tensor(storage("BFloat16Storage", bf16([1.0, -3.5, 1e30, 7.0]), 4), 0, (4,), (1,))
    sd["double"] = Tensor(storage("DoubleStorage", pack("<d", [3.141592653589793, -1e-300]), 2), 0, (2,), (1,))
    sd["long"] = Tensor(storage("LongStorage", pack("<q", [1, -2, 2 ** 62, -(2 ** 63)]), 4), 0, (2, 2), (2, 1))
    sd["int"] = Tensor(storage("IntStorage", pack("<i", [7, -7, 2 ** 31 - 1]), 3), 0, (3,), (1,))
    sd["short"] = Tensor(storage("ShortStorage", pack("<h", [-32768, 32767]), 2), 0, (2,), (1,))
    sd["char"] = Tensor(storage("CharStorage", pack("<b", [-128, 5, 127]), 3), 0, (3,), (1,))
    sd["byte"] = Tensor(storage("ByteStorage", bytes([0, 128, 255]), 3), 0, (3,), (1,))
    sd["bool"] = Tensor(storage("BoolStorage", bytes([1, 0, 1, 1]), 4), 0, (4,), (1,))
    sd["scalar"] = Tensor(storage("FloatStorage", pack("<f", [42.0]), 1), 0, (), ())
    sd["empty"] = Tensor(storage("FloatStorage", b"", 0), 0, (0, 3), (3, 1))
    sd["param"] = Tensor(storage("FloatStorage", pack("<f", [1.0, 2.0, 3.0]), 3), 0, (3,), (1,), parameter=True)
    if args.fp8:
        codes = bytes(range(256))
        sd["fp8_e4m3"] = Tensor(storage("UntypedStorage", codes, 256), 0, (16, 16), (16, 1), v3_dtype="float8_e4m3fn")
        sd["fp8_e5m2"] = Tensor(storage("UntypedStorage", codes, 256), 0, (256,), (1,), v3_dtype="float8_e5m2")
    if args.bad_in_state_dict:
        sd["evil"] = NumpyScalar()
    # torch attaches version metadata to state dicts as an attribute (BUILD state of the OrderedDict)
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("blocks", {"version": 1})])

    if args.layout == "plain":
        root = sd
    elif args.layout in ("module", "model"):
        root = {args.layout: sd, "epoch": 9}
    else:
        hparams = _argparse_for_namespace.Namespace(lr=1e-4, name="tiny", scalar=NumpyScalar())
        root = {
            "epoch": 3,
            "global_step": 12345,
            "pytorch-lightning_version": "1.9.3",
            "best_score": 0.125,
            "finished": True,
            "huge": 2 ** 70,
            "note": "caf\u00e9",
            "raw": b"\x00\x01\xff",
            "numpy_value": NumpyScalar(),
            "state_dict": sd,
            "hparams": hparams,
            "callbacks": {"ModelCheckpoint": {"best_model_score": NumpyScalar(), "dirpath": None}},
            "optimizer_states": [{"state": {0: {"exp_avg": Tensor(f32, 0, (12,), (1,))}}, "param_groups": []}],
            "lr_schedulers": [],
            "misc": {"ints": [-1, -70000, 2 ** 40, -(2 ** 63), 2 ** 63 - 1], "tuple": (1, 2, 3, 4), "tags": {"a", "b"},
                     "frozen": frozenset([1]), "buffer": bytearray(b"xy"), "nothing": None, "neg": -0.0},
        }
    return root, storages


def write(args):
    root, storages = build(args)
    buf = io.BytesIO()
    CheckpointPickler(buf, protocol=args.protocol).dump(root)
    top = args.top + "/"
    records = [(top + "data.pkl", buf.getvalue()), (top + "byteorder", b"little")]
    records += [(top + "data/" + s.key, s.data) for s in storages]
    records.append((top + "version", b"3\n"))
    with zipfile.ZipFile(args.out, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in records:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            if not args.no_align:
                # pad the local header's extra field so the data starts 64-byte aligned, as torch does
                offset = zf.fp.tell() + 30 + len(name.encode()) + 4
                pad = (64 - offset % 64) % 64
                info.extra = struct.pack("<HH", 0x4B46, pad) + b"Z" * pad
            zf.writestr(info, data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--protocol", type=int, default=2)
    p.add_argument("--top", default="archive")
    p.add_argument("--layout", default="lightning", choices=["lightning", "plain", "module", "model"])
    p.add_argument("--no-align", action="store_true")
    p.add_argument("--bad-in-state-dict", action="store_true")
    p.add_argument("--fp8", action="store_true")
    write(p.parse_args())


if __name__ == "__main__":
    main()
