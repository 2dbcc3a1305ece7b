"""The safetensors reader: files built by hand with struct read exactly, dump and write round-trip bit
for bit, and every malformed, truncated or mutated file is refused with a FileProblem naming the fault."""
from __future__ import annotations

import json
import os
import struct
import tracemalloc

import numpy as np
import pytest

from gradstep.engine import limits
from gradstep.engine.files import FileProblem
from gradstep.engine.importers import safetensors as st
from gradstep.engine.importers.safetensors import TensorInfo


def build(head, data: bytes = b"", pad: bool = True) -> bytes:
    """A file by hand: u64 length, the header (an object dumped to JSON, or bytes as given), the data."""
    text = head if isinstance(head, bytes) else json.dumps(head).encode("utf-8")
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def entry(dtype: str, shape: list, begin: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def read_all(raw: bytes) -> dict[str, np.ndarray]:
    infos, _ = st.header(raw)
    return {name: st.tensor(raw, info) for name, info in infos.items()}


def refused(raw: bytes, *phrases: str) -> str:
    with pytest.raises(FileProblem) as info:
        read_all(raw)
    message = str(info.value)
    for p in phrases:
        assert p in message, (p, message)
    return message


F64_ONE = struct.pack("<d", 1.0)


def one_f64(name: str = "w", **fields) -> bytes:
    """A valid file of one F64 [1] tensor whose entry fields may be overridden."""
    e = entry("F64", [1], 0, 8) | fields
    return build({name: e}, F64_ONE)


# ----------------------------------------------------------------------------- an independent route
def test_a_file_built_by_hand_reads_exactly():
    f32 = [0.5, -1.25, 0.1, 3e38]
    f16 = [0.5, -2.0, 65504.0, 2.0 ** -24]
    parts = [
        ("f64", "F64", [3], struct.pack("<3d", 1.5, -0.1, 1e300)),
        ("f32", "F32", [2, 2], struct.pack("<4f", *f32)),
        ("f16", "F16", [4], struct.pack("<4e", *f16)),
        ("bf16", "BF16", [3], struct.pack("<3H", 0x3FC0, 0xC000, 0x3F00)),
        ("i64", "I64", [3], struct.pack("<3q", 2 ** 53, -2 ** 53, -7)),
        ("i32", "I32", [2], struct.pack("<2i", -2 ** 31, 2 ** 31 - 1)),
        ("i16", "I16", [2], struct.pack("<2h", -32768, 12345)),
        ("i8", "I8", [2], struct.pack("<2b", -128, 127)),
        ("u8", "U8", [3], struct.pack("<3B", 0, 200, 255)),
        ("mask", "BOOL", [3], bytes([1, 0, 1])),
        ("scalar", "F64", [], struct.pack("<d", -3.25)),
        ("empty", "F32", [0, 5], b""),
    ]
    head, data = {"__metadata__": {"format": "pt"}}, b""
    for name, dtype, shape, chunk in parts:
        head[name] = entry(dtype, shape, len(data), len(data) + len(chunk))
        data += chunk
    raw = build(head, data)
    infos, meta = st.header(raw)
    assert meta == {"format": "pt"}
    assert list(infos) == [p[0] for p in parts]
    assert infos["f32"] == TensorInfo("f32", "F32", (2, 2), 24, 40)
    got = read_all(raw)
    expected = {
        "f64": [1.5, -0.1, 1e300],
        "f32": [[struct.unpack("<f", struct.pack("<f", v))[0] for v in f32[:2]],
                [struct.unpack("<f", struct.pack("<f", v))[0] for v in f32[2:]]],
        "f16": f16, "bf16": [1.5, -2.0, 0.5], "i64": [2.0 ** 53, -2.0 ** 53, -7.0],
        "i32": [-2.0 ** 31, 2.0 ** 31 - 1], "i16": [-32768.0, 12345.0], "i8": [-128.0, 127.0],
        "u8": [0.0, 200.0, 255.0], "mask": [1.0, 0.0, 1.0], "scalar": -3.25,
    }
    for name, want in expected.items():
        a = got[name]
        assert a.dtype == np.float64 and a.flags.c_contiguous and a.flags.writeable, name
        assert a.shape == np.shape(want) and a.tolist() == want, name
    assert got["empty"].shape == (0, 5) and got["empty"].dtype == np.float64
    view = np.frombuffer(raw, dtype=np.uint8)
    assert not any(np.shares_memory(a, view) for a in got.values())


def test_an_unpadded_header_and_one_padded_with_other_json_whitespace_are_read():
    for head in (b'{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}',
                 b'\n{ "w" : {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]} }\t\r\n'):
        assert read_all(build(head, F64_ONE, pad=False))["w"].tolist() == [1.0]


def test_an_empty_header_with_no_data_is_an_empty_file_of_tensors():
    assert st.header(build({})) == ({}, {})
    assert st.header(build({"__metadata__": {}})) == ({}, {})


def test_zero_size_tensors_may_share_an_offset_with_their_neighbours():
    raw = build({"a": entry("F64", [0], 0, 0), "b": entry("F64", [1], 0, 8), "c": entry("I8", [3, 0], 8, 8)},
                F64_ONE)
    got = read_all(raw)
    assert got["a"].shape == (0,) and got["b"].tolist() == [1.0] and got["c"].shape == (3, 0)


# ----------------------------------------------------------------------------- dump and write
SHAPES = [(), (0,), (1,), (5,), (2, 3), (2, 0, 4), (3, 1, 2), (1,) * 8]


def test_dump_round_trips_bit_for_bit(rng):
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1.7976931348623157e308, -1e-310])
    tensors = {f"t{i}.weight": rng.standard_normal(shape) for i, shape in enumerate(SHAPES)}
    tensors["special"] = special
    tensors["ünïcode name ✓"] = np.arange(6.0).reshape(2, 3).T          # not C-contiguous
    tensors["ints"] = np.array([[1, -2], [3, 4]], dtype=np.int32)
    meta = {"source": "test", "ü": "✓"}
    raw = st.dump(tensors, meta)
    n = struct.unpack("<Q", raw[:8])[0]
    assert n % 8 == 0 and raw[8 + n - 1:8 + n] in (b" ", b"}")
    head = json.loads(raw[8:8 + n])
    assert head["__metadata__"] == meta
    assert all(head[k]["dtype"] == "F64" for k in tensors)
    infos, got_meta = st.header(raw)
    assert got_meta == meta and list(infos) == list(tensors)
    for name, want in tensors.items():
        want = np.asarray(want, dtype=np.float64)
        got = st.tensor(raw, infos[name])
        assert got.shape == want.shape and got.dtype == np.float64
        assert got.tobytes() == np.ascontiguousarray(want).tobytes(), name


def test_dump_without_metadata_writes_none_and_reads_back_empty():
    raw = st.dump({"x": np.ones(3)})
    assert b"__metadata__" not in raw and st.header(raw)[1] == {}
    assert st.header(st.dump({}))[0] == {}


@pytest.mark.parametrize("tensors, metadata, phrase", [
    ({"": np.ones(1)}, None, "non-empty"),
    ({"__metadata__": np.ones(1)}, None, "__metadata__"),
    ({7: np.ones(1)}, None, "name"),
    ({"x" * 1001: np.ones(1)}, None, "1,000"),
    ({"x": np.ones(1, dtype=complex)}, None, "real numbers"),
    ({"x": np.array(["a"])}, None, "real numbers"),
    ({"x": np.ones((1,) * 9)}, None, "MAX_AXES"),
    ({"x": np.ones(1)}, {"k": 1}, "text"),
])
def test_dump_refuses_what_it_could_not_read_back(tensors, metadata, phrase):
    with pytest.raises(ValueError, match=phrase):
        st.dump(tensors, metadata)


def test_write_then_read_back(tmp_path):
    path = tmp_path / "w.safetensors"
    st.write(path, {"a": np.arange(3.0)}, {"k": "v"})
    raw = path.read_bytes()
    assert read_all(raw)["a"].tolist() == [0.0, 1.0, 2.0] and st.header(raw)[1] == {"k": "v"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


def test_write_is_atomic_and_leaves_nothing_when_replace_fails(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"

    def boom(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        st.write(path, {"a": np.ones(4)})
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    st.write(path, {"a": np.ones(4)})
    before = path.read_bytes()
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        st.write(path, {"b": np.zeros(2)})
    assert path.read_bytes() == before                              # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


def test_write_refuses_before_touching_the_folder(tmp_path):
    with pytest.raises(ValueError):
        st.write(tmp_path / "w.safetensors", {"x": np.ones(1, dtype=complex)})
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- refusals
def test_the_example_message_names_tensor_shape_bytes_and_offsets():
    raw = build({"fc1.weight": entry("F64", [10, 100], 0, 4000)}, bytes(4000))
    assert refused(raw) == ("tensor 'fc1.weight' has shape [10, 100] (8,000 bytes of F64) but "
                            "data_offsets [0, 4000] span 4,000 bytes")


GOOD_HEAD = json.dumps({"w": entry("F64", [1], 0, 8)}).encode()

CASES = {
    # the length prefix
    "empty file": (b"", ["0 bytes", "8-byte header length"]),
    "shorter than the length": (b"\x08\x00\x00", ["3 bytes"]),
    "header length 0": (struct.pack("<Q", 0) + F64_ONE, ["is 0"]),
    "header longer than the file": (struct.pack("<Q", 1000) + GOOD_HEAD, ["1,000 bytes", "cut short"]),
    "header length 2**63": (struct.pack("<Q", 2 ** 63) + GOOD_HEAD, ["9,223,372,036,854,775,808"]),
    # the header's text
    "not UTF-8": (build(b'{"w\xff": 1}'), ["not UTF-8"]),
    "not JSON": (build(b'{"w": {"dtype": '), ["not valid JSON"]),
    "not JSON at all": (build(b"\x00" * 8), ["not valid JSON"]),
    "nested too deep": (build(b"[" * 50_000), ["nests too deeply"]),
    "a number of 5,000 digits": (build(b"{\"w\": " + b"9" * 5000 + b"}"), ["thousands of digits"]),
    "a list, not an object": (build([1, 2]), ["JSON list, not an object"]),
    "a string, not an object": (build("w"), ["JSON str"]),
    "a tensor named twice": (build(b'{"w": {}, "w": {}}'), ["'w' twice"]),
    "a field named twice": (build(b'{"w": {"dtype": "F64", "dtype": "F32", "shape": [1], '
                                  b'"data_offsets": [0, 8]}}', F64_ONE), ["'dtype' twice"]),
    # entries
    "an entry that is a list": (build({"w": [0, 8]}, F64_ONE), ["tensor 'w'", "list"]),
    "an entry lacking data_offsets": (build({"w": {"dtype": "F64", "shape": [1]}}, F64_ONE),
                                      ["tensor 'w'", "lacks data_offsets"]),
    "an entry with an extra field": (one_f64(extra=1), ["tensor 'w'", "unknown field", "'extra'"]),
    "metadata not an object": (build({"__metadata__": ["a"]}), ["__metadata__", "list"]),
    "metadata with a number": (build({"__metadata__": {"epoch": 3}}), ["__metadata__", "'epoch'", "text"]),
    "metadata with a nested object": (build({"__metadata__": {"a": {"b": "c"}}}), ["'a'", "text"]),
    # names
    "an empty name": (one_f64(""), ["''", "non-empty"]),
    "a name of 1,001 characters": (one_f64("n" * 1001), ["1,001 characters"]),
    "a lone surrogate in a name": (build(b'{"\\ud800": {"dtype": "F64", "shape": [1], '
                                         b'"data_offsets": [0, 8]}}', F64_ONE), ["'\\ud800'", "non-empty text"]),
    # dtypes
    "dtype F8_E4M3": (one_f64(dtype="F8_E4M3"), ["tensor 'w'", "'F8_E4M3'", "F64, F32, F16, BF16, I64"]),
    "dtype U64": (one_f64(dtype="U64"), ["'U64'", "BOOL"]),
    "dtype C64": (one_f64(dtype="C64"), ["'C64'"]),
    "dtype in lower case": (one_f64(dtype="f64"), ["'f64'"]),
    "dtype a number": (one_f64(dtype=8), ["dtype 8"]),
    "dtype a list": (one_f64(dtype=["F64"]), ['dtype ["F64"]']),
    "dtype an object": (one_f64(dtype={"F64": 1}), ["dtype a JSON object of 1 item"]),
    # shapes
    "shape a number": (one_f64(shape=1), ["tensor 'w'", "shape 1", "list of whole numbers"]),
    "shape of floats": (one_f64(shape=[1.0]), ["shape [1.0]"]),
    "shape of bools": (one_f64(shape=[True]), ["shape [true]"]),
    "a negative axis": (one_f64(shape=[-1]), ["tensor 'w'", "negative length -1"]),
    "nine axes": (one_f64(shape=[1] * 9), ["9 axes", "MAX_AXES"]),
    "too many elements": (one_f64(shape=[2001, 2000], data_offsets=[0, 8]), ["4,002,000", "MAX_ELEMENTS"]),
    "shape [2**40, 2**40]": (one_f64(shape=[2 ** 40, 2 ** 40], data_offsets=[0, 2 ** 83]), ["MAX_ELEMENTS"]),
    "a zero-size shape with a huge axis": (one_f64(shape=[0, 2 ** 70], data_offsets=[0, 0]), ["MAX_ELEMENTS"]),
    "a long list for a shape": (one_f64(shape=["1"] * 99), ["shape a JSON list of 99 items"]),
    "a long list of axes": (one_f64(shape=list(range(1, 100))), ["99 axes", "MAX_AXES"]),
    # data_offsets
    "offsets a number": (one_f64(data_offsets=8), ["tensor 'w'", "data_offsets 8", "two whole numbers"]),
    "three offsets": (one_f64(data_offsets=[0, 8, 16]), ["[0, 8, 16]"]),
    "float offsets": (one_f64(data_offsets=[0, 8.0]), ["[0, 8.0]"]),
    "bool offsets": (one_f64(data_offsets=[False, True]), ["[false, true]"]),
    "a negative begin": (one_f64(data_offsets=[-8, 0]), ["[-8, 0]", "outside the data buffer of 8 bytes"]),
    "begin after end": (one_f64(data_offsets=[8, 0]), ["[8, 0]", "outside"]),
    "end past the data": (one_f64(data_offsets=[8, 16]), ["[8, 16]", "outside"]),
    "end at 2**70": (one_f64(data_offsets=[0, 2 ** 70]), ["outside"]),
    "span too short": (one_f64(shape=[2]), ["tensor 'w'", "(16 bytes of F64)", "span 8 bytes"]),
    "span too long for F32": (one_f64(dtype="F32"), ["(4 bytes of F32)", "span 8 bytes"]),
    # tiling of the data buffer
    "overlapping tensors": (build({"a": entry("F64", [2], 0, 16), "b": entry("F64", [2], 8, 24)}, bytes(24)),
                            ["tensor 'b'", "overlaps tensor 'a'"]),
    "a zero-size tensor inside another": (build({"a": entry("F64", [2], 0, 16), "z": entry("F64", [0], 8, 8)},
                                                bytes(16)), ["tensor 'z'", "overlaps tensor 'a'"]),
    "the same bytes twice": (build({"a": entry("F64", [1], 0, 8), "b": entry("F64", [1], 0, 8)}, F64_ONE),
                             ["overlaps"]),
    "a hole between tensors": (build({"a": entry("F64", [1], 0, 8), "b": entry("F64", [1], 16, 24)}, bytes(24)),
                               ["bytes 8 to 16", "after tensor 'a'", "before tensor 'b'", "no tensor"]),
    "a hole at the start": (build({"a": entry("F64", [1], 8, 16)}, bytes(16)),
                            ["bytes 0 to 8", "at the start", "tensor 'a'"]),
    "bytes after the last tensor": (build({"a": entry("F64", [1], 0, 8)}, bytes(12)),
                                    ["4 bytes (8 to 12)", "after tensor 'a'"]),
    "data but no tensor": (build({}, bytes(8)), ["8 bytes", "names no tensor"]),
    # values a float64 would not hold exactly, or that are not what their dtype says
    "an I64 beyond 2**53": (build({"big": entry("I64", [2], 0, 16)}, struct.pack("<2q", 1, 2 ** 53 + 1)),
                            ["tensor 'big'", "9,007,199,254,740,993", "element 1", "2**53"]),
    "the most negative I64": (build({"big": entry("I64", [1], 0, 8)}, struct.pack("<q", -2 ** 63)),
                              ["tensor 'big'", "-9,223,372,036,854,775,808"]),
    "a BOOL byte of 2": (build({"m": entry("BOOL", [3], 0, 3)}, bytes([0, 1, 2])),
                         ["BOOL tensor 'm'", "byte 2 at element 2", "0 or 1"]),
}


@pytest.mark.parametrize("case", CASES)
def test_each_malformed_file_is_refused_by_name(case):
    raw, phrases = CASES[case]
    refused(raw, *phrases)


@pytest.mark.parametrize("case", ["header length 2**63", "shape [2**40, 2**40]", "end at 2**70"])
def test_huge_claims_are_refused_without_allocating_what_they_claim(case):
    tracemalloc.start()
    try:
        refused(CASES[case][0])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100_000


def test_a_control_character_in_a_name_is_escaped_in_the_message():
    message = refused(one_f64("evil\x1b[2J", dtype="X"))
    assert "\x1b" not in message and "\\x1b[2J" in message


def test_a_very_long_name_is_cut_short_in_the_message():
    message = refused(one_f64("n" * 900, dtype="X"))
    assert len(message) < 300 and "…" in message


def test_the_header_limit_is_named(monkeypatch):
    monkeypatch.setattr(limits, "MAX_SAFETENSORS_HEADER_BYTES", 16)
    refused(one_f64(), "MAX_SAFETENSORS_HEADER_BYTES", "16")


def test_more_tensors_than_allowed_are_refused_before_their_entries_are_read(monkeypatch):
    assert st.MAX_TENSORS == 100_000
    monkeypatch.setattr(st, "MAX_TENSORS", 3)
    head = {f"t{i}": entry("F64", [0], 0, 0) for i in range(4)}
    head["t3"] = "not even an entry"
    refused(build(head), "4 tensors", "limit is 3")
    del head["t3"]
    assert len(st.header(build(head))[0]) == 3


def test_tensor_rechecks_a_hand_made_info():
    raw = one_f64()
    for info, phrase in [(TensorInfo("w", "F64", (2,), 0, 16), "outside"),
                         (TensorInfo("w", "F64", (2,), 0, 8), "span 8 bytes"),
                         (TensorInfo("w", "U64", (1,), 0, 8), "'U64'"),
                         (TensorInfo("w", "F64", (1,), -8, 0), "outside")]:
        with pytest.raises(FileProblem, match=phrase):
            st.tensor(raw, info)
    with pytest.raises(FileProblem, match="8-byte header length"):
        st.tensor(b"", TensorInfo("w", "F64", (1,), 0, 8))


def small_file() -> bytes:
    return st.dump({"a": np.array([1.0, -2.0]), "s": np.float64(0.5), "e": np.zeros((0, 2)),
                    "b": np.arange(6.0).reshape(3, 2)}, {"k": "v"})


def test_every_truncation_of_a_valid_file_is_refused():
    raw = small_file()
    assert read_all(raw)
    for cut in range(len(raw)):
        refused(raw[:cut])


def test_random_mutations_parse_or_are_refused(rng):
    """2,000 mutated copies: each is read completely or refused with FileProblem, nothing else."""
    raw = small_file()
    n = struct.unpack("<Q", raw[:8])[0]
    outcomes = {"read": 0, "refused": 0}
    for _ in range(2000):
        b = bytearray(raw)
        for _ in range(int(rng.integers(1, 4))):
            # Mostly in the length and header, where a changed byte changes meaning.
            hi = 8 + n if rng.random() < 0.8 else len(b)
            pos = int(rng.integers(0, hi))
            kind = rng.random()
            if kind < 0.4:                  # printable ASCII, so most headers stay UTF-8 and reach the checks
                b[pos] = int(rng.integers(32, 127))
            elif kind < 0.65:
                b[pos] = ord(rng.choice(list('0123456789[]{}",:-.e ')))
            elif kind < 0.8:
                b[pos] = int(rng.integers(0, 256))
            elif kind < 0.9:
                del b[pos]
            else:
                b.insert(pos, int(rng.integers(0, 256)))
        mutated = bytes(b)
        try:
            got = read_all(mutated)
        except FileProblem:
            outcomes["refused"] += 1
        else:
            outcomes["read"] += 1
            assert all(a.dtype == np.float64 for a in got.values())
    assert outcomes["read"] > 20 and outcomes["refused"] > 1000, outcomes


ODD_VALUES = [None, True, 0, -1, 2 ** 64, 1.5, float("nan"), "", "F64", [], [0], [[0, 8]], ["0", "8"], {},
              {"F64": 1}, [None, None], [0, 8, 8], [2 ** 70], list(range(20))]


def test_every_field_replaced_by_an_odd_json_value_parses_or_is_refused():
    """Type confusion that byte mutations rarely reach: each field, the metadata and an entry swapped
    for values of every JSON type."""
    raw = st.dump({"a": np.ones(2), "s": np.float64(1.0)}, {"k": "v"})
    base = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
    data = np.ones(3).tobytes()
    for odd in ODD_VALUES:
        for path in [("a", "dtype"), ("a", "shape"), ("a", "data_offsets"), ("s", "shape"),
                     ("__metadata__", "k"), ("__metadata__",), ("a",)]:
            head = json.loads(json.dumps(base))
            target = head
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = odd
            try:
                read_all(build(head, data))
            except FileProblem:
                pass
