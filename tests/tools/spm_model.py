#!/usr/bin/env python3
"""Reads and writes sentencepiece .model files (the ModelProto protobuf) with the standard library only.

Used to inspect tokenizer models and to build small synthetic BPE models for the differential tests of the
built-in Gemma BPE encoder (tests/engine/test_tokenizers_gemma_builtin.cpp), which compare it with the real
sentencepiece (through the bridge) on models that exercise what the tiny golden model cannot: merge order by
score, ties, user-defined symbols, unused pieces, models without byte fallback, dummy prefixes.

    python3 tests/tools/spm_model.py dump /work/shared/golden/tiny_gemma_spm.model
    python3 tests/tools/spm_model.py synth OUT_DIR     # writes the synthetic models the C++ test loads

Field numbers: google/sentencepiece src/sentencepiece_model.proto (ModelProto, TrainerSpec, NormalizerSpec).
"""
import json
import os
import random
import struct
import sys

# ---- wire format ---------------------------------------------------------------------------------------------


def read_varint(buf, pos):
    value = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def fields(buf):
    """Yields (field_number, wire_type, value) of one message; value is int, bytes or a 4/8-byte blob."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = read_varint(buf, pos)
        elif wt == 1:
            v, pos = buf[pos:pos + 8], pos + 8
        elif wt == 2:
            n, pos = read_varint(buf, pos)
            v, pos = buf[pos:pos + n], pos + n
        elif wt == 5:
            v, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield num, wt, v


def varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    return varint((num << 3) | 2) + varint(len(b)) + b


def field_float(num, f):
    return varint((num << 3) | 5) + struct.pack("<f", f)


# ---- ModelProto ----------------------------------------------------------------------------------------------

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
TYPE_NAMES = {1: "NORMAL", 2: "UNKNOWN", 3: "CONTROL", 4: "USER_DEFINED", 5: "UNUSED", 6: "BYTE"}
UNIGRAM, BPE = 1, 2

TRAINER_INT_FIELDS = {3: "model_type", 4: "vocab_size", 35: "byte_fallback", 24: "treat_whitespace_as_suffix",
                      40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id"}
TRAINER_STR_FIELDS = {45: "unk_piece", 46: "bos_piece", 47: "eos_piece", 48: "pad_piece", 44: "unk_surface"}
NORMALIZER_FIELDS = {1: "name", 2: "precompiled_charsmap", 3: "add_dummy_prefix", 4: "remove_extra_whitespaces",
                     5: "escape_whitespaces", 6: "normalization_rule_tsv"}


def parse_model(data):
    model = {"pieces": [], "trainer_spec": {}, "normalizer_spec": {}, "other_fields": []}
    for num, wt, v in fields(data):
        if num == 1:
            p = {"piece": "", "score": 0.0, "type": NORMAL}
            for n2, _, v2 in fields(v):
                if n2 == 1:
                    p["piece"] = v2.decode("utf-8", "surrogateescape")
                elif n2 == 2:
                    p["score"] = struct.unpack("<f", v2)[0]
                elif n2 == 3:
                    p["type"] = v2
            model["pieces"].append(p)
        elif num == 2:
            for n2, wt2, v2 in fields(v):
                if n2 in TRAINER_INT_FIELDS and wt2 == 0:
                    model["trainer_spec"][TRAINER_INT_FIELDS[n2]] = v2 if v2 < (1 << 63) else v2 - (1 << 64)
                elif n2 in TRAINER_STR_FIELDS:
                    model["trainer_spec"][TRAINER_STR_FIELDS[n2]] = v2.decode("utf-8")
                else:
                    model["trainer_spec"].setdefault("_other", []).append(n2)
        elif num in (3, 5):
            key = "normalizer_spec" if num == 3 else "denormalizer_spec"
            spec = model.setdefault(key, {})
            for n2, _, v2 in fields(v):
                name = NORMALIZER_FIELDS.get(n2, str(n2))
                spec[name] = v2 if isinstance(v2, int) else (len(v2) if n2 == 2 else v2.decode("utf-8"))
        else:
            model["other_fields"].append(num)
    return model


def write_model(pieces, trainer, normalizer, denormalizer=None, self_test=None):
    """pieces: [(piece, score, type)]; trainer/normalizer: dicts with the keys of the *_FIELDS tables."""
    out = bytearray()
    for piece, score, ptype in pieces:
        body = field_bytes(1, piece) + field_float(2, score)
        if ptype != NORMAL:
            body += field_varint(3, ptype)
        out += field_bytes(1, body)
    t = bytearray()
    for num, name in TRAINER_INT_FIELDS.items():
        if name in trainer:
            t += field_varint(num, int(trainer[name]))
    for num, name in TRAINER_STR_FIELDS.items():
        if name in trainer:
            t += field_bytes(num, trainer[name])
    out += field_bytes(2, bytes(t))

    def spec_bytes(spec):
        s = bytearray()
        for num, name in NORMALIZER_FIELDS.items():
            if name in spec:
                v = spec[name]
                s += field_varint(num, int(v)) if isinstance(v, bool) else field_bytes(num, v)
        return bytes(s)

    out += field_bytes(3, spec_bytes(normalizer))
    if self_test:
        st = bytearray()
        for inp, expected in self_test:
            st += field_bytes(1, field_bytes(1, inp) + field_bytes(2, expected))
        out += field_bytes(4, bytes(st))
    if denormalizer is not None:
        out += field_bytes(5, spec_bytes(denormalizer))
    return bytes(out)


# ---- synthetic models ----------------------------------------------------------------------------------------

GEMMA_NORMALIZER = {"name": "identity", "add_dummy_prefix": False, "remove_extra_whitespaces": False,
                    "escape_whitespaces": True}
GEMMA_TRAINER = {"model_type": BPE, "byte_fallback": True, "unk_id": 3, "bos_id": 2, "eos_id": 1, "pad_id": 0,
                 "unk_piece": "<unk>", "bos_piece": "<bos>", "eos_piece": "<eos>", "pad_piece": "<pad>"}
SPECIALS = [("<pad>", 0.0, CONTROL), ("<eos>", 0.0, CONTROL), ("<bos>", 0.0, CONTROL), ("<unk>", 0.0, UNKNOWN)]
BYTES = [("<0x%02X>" % b, 0.0, BYTE) for b in range(256)]

ALPHABET = list("abcdefghijklmnopqrstuvwxyz") + ["\u2581", "e\u0301"[1]] + list("0123456789.,!?-'") + \
    ["\u00e9", "\u00fc", "\u00df", "\u6771", "\u4eac", "\u3042", "\u3044", "\u0430", "\u0431", "\u0432",
     "\u03b1", "\u03b2", "\u05d0", "\u0627", "\u0928", "\U0001F642", "\n", "\t"]


def bpe_vocab(rng, num_merges, alphabet, tie_every=0, score_step=1.0):
    """A BPE vocabulary in the way the trainer makes one: the characters, then merged pieces with decreasing
    scores. tie_every > 0 gives runs of equal scores (the tie-breaking paths); pieces are built by merging two
    existing pieces, so every piece is reachable."""
    chars = list(dict.fromkeys(alphabet))
    pieces = list(chars)
    seen = set(pieces)
    merged = []
    score = -1.0
    attempts = 0
    while len(merged) < num_merges and attempts < num_merges * 200:
        attempts += 1
        a = rng.choice(pieces[: max(len(chars), len(pieces))])
        b = rng.choice(pieces)
        if rng.random() < 0.6:
            b = rng.choice(chars)
        p = a + b
        if p in seen or len(p) > 12:
            continue
        seen.add(p)
        pieces.append(p)
        merged.append((p, score))
        if tie_every <= 0 or len(merged) % tie_every == 0:
            score -= score_step
    # Characters get the lowest scores, as in a trained model (they are never merge results).
    char_entries = [(c, score - 1.0 - i, NORMAL) for i, c in enumerate(chars)]
    return [(p, s, NORMAL) for p, s in merged], char_entries


WORDS = """a the of and to in is on with for at by from as an that this it its be are was were or not but all
cat dog photo picture image portrait landscape city street night day sun moon sky cloud rain snow tree forest
mountain river lake sea ocean beach house room window door table chair bed lamp light shadow color red green
blue yellow white black orange purple pink brown gray golden silver bright dark small large tall round soft
warm cold old young happy sleeping running flying standing sitting looking detailed vivid concrete scene
shapes sizes textures spatial relationships enhanced prompt user generate description visual suitable level
simple specifics adding colors refine enhance existing details slightly without overcomplicating examples
transform busy bustling dusk featuring glowing lamps diverse crowd people colorful clothing double decker bus
passing towering glass skyscrapers fluffy curled shape peacefully sunny windowsill surrounded pots blooming
flowers please only below avoid including any additional commentary evaluations given provides evaluate
photograph realistic painting oil watercolor style cinematic lighting render octane unreal engine artstation
highly intricate sharp focus illustration concept art smooth elegant fantasy science fiction cyberpunk neon
castle dragon knight princess robot astronaut space planet galaxy stars nebula ship boat car train bridge""".split()


def train_bpe(rng, num_merges, num_sentences=4000):
    """A small BPE trainer in sentencepiece's manner (whitespace-led words, merges by pair frequency, score =
    -merge index, so scores are distinct and ordered), on sentences drawn from WORDS with a Zipf-like law."""
    weights = [1.0 / (i + 1) for i in range(len(WORDS))]
    counts = {}
    for _ in range(num_sentences):
        n = rng.randint(3, 12)
        for w in rng.choices(WORDS, weights, k=n):
            if rng.random() < 0.1:
                w = w.capitalize()
            if rng.random() < 0.05:
                w += rng.choice(",.!?")
            key = tuple("\u2581" + w)
            counts[key] = counts.get(key, 0) + 1
    chars = sorted({c for word in counts for c in word})
    words = {k: list(k) for k in counts}
    merged = []
    for m in range(num_merges):
        pairs = {}
        for k, syms in words.items():
            f = counts[k]
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + f
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        new = best[0] + best[1]
        merged.append((new, -float(m), NORMAL))
        for k, syms in words.items():
            i, out = 0, []
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == best[0] and syms[i + 1] == best[1]:
                    out.append(new)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[k] = out
    n = len(merged)
    char_entries = [(c, -float(n + i), NORMAL) for i, c in enumerate(chars)]
    return merged, char_entries


def gemma_user_symbols():
    """User-defined symbols shaped like Gemma's: turn markers, unused slots, newline and space runs, HTML tags."""
    syms = ["<mask>", "[multimodal]"] + ["<unused%d>" % i for i in range(12)] + ["<start_of_turn>", "<end_of_turn>"]
    syms += ["\n" * k for k in range(1, 32)] + ["\u2581" * k for k in range(2, 32)]
    syms += ["<table>", "<caption>", "<thead>", "<tbody>", "<tr>", "<th>", "<td>", "</table>", "</tr>", "</td>",
             "<h1>", "<h2>", "</h1>", "</h2>", "<p>", "</p>", "<b>", "</b>", "<br>"]
    return [(s, 0.0, USER_DEFINED) for s in syms]


def synth_models(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(20240611)
    written = {}

    def save(name, pieces, trainer, normalizer, description, denormalizer=None, self_test=None):
        path = os.path.join(out_dir, name + ".model")
        with open(path, "wb") as f:
            f.write(write_model(pieces, trainer, normalizer, denormalizer, self_test))
        written[name] = description

    # 1. Gemma-like: byte fallback, identity normaliser, distinct scores, some user-defined symbols.
    merges, chars = bpe_vocab(rng, 700, ALPHABET)
    user = [("<start_of_turn>", 0.0, USER_DEFINED), ("<end_of_turn>", 0.0, USER_DEFINED),
            ("\u2581\u2581", 0.0, USER_DEFINED), ("\u2581\u2581\u2581\u2581", 0.0, USER_DEFINED),
            ("\n\n", 0.0, USER_DEFINED), ("<h1>", 0.0, USER_DEFINED), ("<h", 0.0, USER_DEFINED),
            ("ab", 0.0, USER_DEFINED)]
    save("gemma_like", SPECIALS + BYTES + user + merges + chars, GEMMA_TRAINER, GEMMA_NORMALIZER,
         "byte fallback, identity normaliser, user-defined symbols (nested prefixes, one that is also a merge)")

    # 1b. Trained: a vocabulary learned from word frequencies (realistic merge order, distinct scores),
    # Gemma-shaped user-defined symbols, byte fallback.
    merges, chars = train_bpe(random.Random(7), 1500)
    save("trained", SPECIALS + gemma_user_symbols() + BYTES + merges + chars, GEMMA_TRAINER, GEMMA_NORMALIZER,
         "BPE trained on Zipf-distributed English words (1500 merges), Gemma-like user-defined symbols")

    # 2. Ties: many merges share a score, so the leftmost-pair rule decides.
    merges, chars = bpe_vocab(rng, 700, ALPHABET[:30], tie_every=7)
    save("ties", SPECIALS + BYTES + merges + chars, GEMMA_TRAINER, GEMMA_NORMALIZER,
         "runs of 7 merges with equal scores (tie-breaking by position)")

    # 3. All merges with one score: pure leftmost-first.
    merges, chars = bpe_vocab(rng, 400, ALPHABET[:20], tie_every=100000)
    merges = [(p, -5.0, t) for p, _, t in merges]
    chars = [(c, -5.0, t) for c, _, t in chars]
    save("flat_scores", SPECIALS + BYTES + merges + chars, GEMMA_TRAINER, GEMMA_NORMALIZER,
         "every piece has the same score")

    # 4. Unused pieces: some intermediate merges are UNUSED, so they must be re-split (resegment).
    merges, chars = bpe_vocab(rng, 600, ALPHABET[:30])
    merges = [(p, s, UNUSED if i % 5 == 2 else t) for i, (p, s, t) in enumerate(merges)]
    save("unused", SPECIALS + BYTES + merges + chars, GEMMA_TRAINER, GEMMA_NORMALIZER,
         "every fifth merged piece is UNUSED (resegmentation)")

    # 5. No byte fallback: unknown characters become <unk>, runs of them one <unk>.
    merges, chars = bpe_vocab(rng, 500, ALPHABET[:30])
    trainer = dict(GEMMA_TRAINER)
    trainer["byte_fallback"] = False
    save("no_byte_fallback", SPECIALS + merges + chars, trainer, GEMMA_NORMALIZER,
         "no byte pieces: unknown characters are <unk>, consecutive ones merged")

    # 6. Llama-style normaliser flags (dummy prefix, extra-whitespace removal), empty charsmap, default pieces.
    merges, chars = bpe_vocab(rng, 500, ALPHABET[:30])
    trainer = {"model_type": BPE, "byte_fallback": True, "unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1}
    specials = [("<unk>", 0.0, UNKNOWN), ("<s>", 0.0, CONTROL), ("</s>", 0.0, CONTROL)]
    save("dummy_prefix", specials + BYTES + merges + chars, trainer,
         {"name": "identity", "add_dummy_prefix": True, "remove_extra_whitespaces": True,
          "escape_whitespaces": True},
         "add_dummy_prefix and remove_extra_whitespaces on, no charsmap, default special pieces")

    # 7. Whitespace as suffix, no whitespace escaping, a control symbol that is a single character.
    merges, chars = bpe_vocab(rng, 400, ALPHABET[:30])
    trainer = dict(GEMMA_TRAINER)
    trainer["treat_whitespace_as_suffix"] = True
    save("suffix_no_escape", SPECIALS + BYTES + [("|", 0.0, CONTROL)] + merges + chars, trainer,
         {"name": "identity", "add_dummy_prefix": True, "remove_extra_whitespaces": False,
          "escape_whitespaces": False},
         "treat_whitespace_as_suffix, escape_whitespaces off, a one-character control symbol")

    # 8. A model with self-test data (sentencepiece checks it at load).
    merges, chars = bpe_vocab(rng, 100, list("abc\u2581"))
    save("self_test_bad", SPECIALS + BYTES + merges + chars, GEMMA_TRAINER, GEMMA_NORMALIZER,
         "self-test data that the model cannot reproduce (load must fail)",
         self_test=[("abc", "this is not what it gives")])

    # Models the built-in encoder must refuse (the bridge loads some of them: they are not Gemma's kind).
    merges, chars = bpe_vocab(rng, 50, ALPHABET[:10])
    save("refuse_unigram", SPECIALS + BYTES + merges + chars, dict(GEMMA_TRAINER, model_type=UNIGRAM),
         GEMMA_NORMALIZER, "a unigram model")
    save("refuse_charsmap", SPECIALS + BYTES + merges + chars, GEMMA_TRAINER,
         dict(GEMMA_NORMALIZER, name="nmt_nfkc", precompiled_charsmap=b"\x04\x00\x00\x00abcdxyz"),
         "a normaliser with a precompiled charsmap")
    save("refuse_no_unk", [p for p in SPECIALS if p[2] != UNKNOWN] + BYTES + merges + chars, GEMMA_TRAINER,
         GEMMA_NORMALIZER, "no unknown piece")
    with open(os.path.join(out_dir, "models.json"), "w") as f:
        json.dump(written, f, indent=1, ensure_ascii=False)
    return written


def main(argv):
    if len(argv) == 3 and argv[1] == "dump":
        with open(argv[2], "rb") as f:
            m = parse_model(f.read())
        pieces = m.pop("pieces")
        print(json.dumps(m, indent=1, ensure_ascii=False))
        types = {}
        for p in pieces:
            types[TYPE_NAMES.get(p["type"], str(p["type"]))] = types.get(TYPE_NAMES.get(p["type"], ""), 0) + 1
        print("pieces:", len(pieces), types)
        for i, p in enumerate(pieces):
            if p["type"] not in (BYTE,):
                print(i, repr(p["piece"]), p["score"], TYPE_NAMES.get(p["type"], p["type"]))
        return 0
    if len(argv) == 3 and argv[1] == "synth":
        for name, what in synth_models(argv[2]).items():
            print(name, "-", what)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
