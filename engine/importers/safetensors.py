"""Safetensors weights files, read and written by our own code: a length, a JSON header, raw numbers.

The format (github.com/huggingface/safetensors): 8 bytes little-endian u64 N, then N bytes of UTF-8
JSON mapping each tensor's name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into
the data buffer that follows) plus an optional "__metadata__" of strings, then the data buffer,
little-endian and C-ordered. Nothing is unpickled or executed. A file may come from anyone, so every
claim of its header is checked against the bytes at hand, and against the named limits, before
anything proportional to a claimed size is allocated.
"""
from __future__ import annotations

import json
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import limits
from ..files import FileProblem

METADATA = "__metadata__"
MAX_TENSORS = 100_000            # tensors in one header (the header's own size is bounded too)
MAX_NAME_CHARS = 1_000           # characters in one tensor name

# Each supported dtype: how its bytes are read (explicitly little-endian) and its size in bytes.
_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),      # the top half of a float32; widened in _as_float64
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("u1"),
}
_SUPPORTED = ", ".join(_DTYPES)
_FIELDS = ("dtype", "shape", "data_offsets")
_EXACT_INT = 2 ** 53              # beyond this a float64 cannot hold every integer


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry in a header: its dtype, shape and byte range in the data buffer."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def _label(name: str) -> str:
    """A tensor's name quoted for a message (repr escapes control characters; long names are cut)."""
    shown = repr(name)
    return shown if len(shown) <= 80 else shown[:76] + "…" + shown[0]


def _shape_text(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _brief(value) -> str:
    """A header value as a message shows it: short lists and scalars as JSON, anything bigger by its size."""
    if isinstance(value, list) and len(value) <= 8 and not any(isinstance(v, (list, dict)) for v in value):
        return json.dumps(value)[:60]
    if isinstance(value, (list, dict)):
        items = "item" if len(value) == 1 else "items"
        return f"a JSON {'list' if isinstance(value, list) else 'object'} of {len(value):,} {items}"
    if isinstance(value, str):
        return _label(value)
    return json.dumps(value)[:60]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_text(v) -> bool:
    """A str that is valid Unicode (a lone surrogate from a JSON escape cannot be written as UTF-8)."""
    if not isinstance(v, str):
        return False
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unique_object(pairs: list[tuple[str, object]]) -> dict:
    """json's object_pairs_hook: an object that names a key twice is refused, not silently overwritten."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise FileProblem(f"the header names {_label(key)} twice in one JSON object; "
                              f"each name may appear only once")
        out[key] = value
    return out


def _header_length(raw) -> int:
    """N from the first 8 bytes, checked against the file and MAX_SAFETENSORS_HEADER_BYTES."""
    if len(raw) < 8:
        raise FileProblem(f"the file is {len(raw)} bytes long; a safetensors file starts with an "
                          f"8-byte header length, so it is empty, cut short or not a safetensors file")
    n = int.from_bytes(raw[:8], "little")
    if n == 0:
        raise FileProblem("the header length (the first 8 bytes) is 0; a safetensors file has a JSON "
                          "header after it")
    if n > len(raw) - 8:
        raise FileProblem(f"the first 8 bytes say the header is {n:,} bytes, but only {len(raw) - 8:,} "
                          f"bytes follow them: the file is cut short or is not a safetensors file")
    if n > limits.MAX_SAFETENSORS_HEADER_BYTES:
        raise FileProblem(f"the header is {n:,} bytes; the limit (MAX_SAFETENSORS_HEADER_BYTES) is "
                          f"{limits.MAX_SAFETENSORS_HEADER_BYTES:,}")
    return n


def _parse_json(raw, n: int) -> dict:
    try:
        text = str(raw[8:8 + n], "utf-8")
    except UnicodeDecodeError as e:
        raise FileProblem(f"the header is not UTF-8 text (byte {8 + e.start:,} of the file is not "
                          f"valid UTF-8), so this is not a safetensors file") from None
    try:
        parsed = json.loads(text, object_pairs_hook=_unique_object)
    except RecursionError:
        raise FileProblem("the header's JSON nests too deeply to read") from None
    except json.JSONDecodeError as e:
        raise FileProblem(f"the header is not valid JSON (line {e.lineno}, column {e.colno}): "
                          f"{e.msg}") from None
    except ValueError:                            # Python refuses integers of thousands of digits
        raise FileProblem("the header holds a number thousands of digits long") from None
    if not isinstance(parsed, dict):
        raise FileProblem(f"the header is a JSON {type(parsed).__name__}, not an object mapping tensor "
                          f"names to their dtype, shape and data_offsets")
    return parsed


def _metadata(value) -> dict[str, str]:
    if not isinstance(value, dict):
        raise FileProblem(f'"{METADATA}" must be a JSON object of text values, not a '
                          f"{type(value).__name__}")
    for key, v in value.items():
        if not _is_text(key):
            raise FileProblem(f'"{METADATA}" has the name {_label(key)}, which is not valid Unicode text')
        if not _is_text(v):
            raise FileProblem(f'"{METADATA}" entry {_label(key)} must be text, not a {type(v).__name__}')
    return dict(value)


def _shape(name: str, shape) -> tuple[int, ...]:
    """The shape as a tuple, within MAX_AXES and MAX_ELEMENTS (checked axis by axis, never multiplied out huge)."""
    if not isinstance(shape, list) or not all(_is_int(d) for d in shape):
        raise FileProblem(f"tensor {_label(name)} has shape {_brief(shape)}; a shape is a list "
                          f"of whole numbers such as [10, 100]")
    if len(shape) > limits.MAX_AXES:
        raise FileProblem(f"tensor {_label(name)} has {len(shape)} axes; the limit (MAX_AXES) is "
                          f"{limits.MAX_AXES}")
    count = 1
    for axis, d in enumerate(shape):
        if d < 0:
            raise FileProblem(f"tensor {_label(name)} has shape {_shape_text(shape)}: axis {axis} "
                              f"has negative length {d}")
        if d > limits.MAX_ELEMENTS:
            raise FileProblem(f"tensor {_label(name)} has shape {_shape_text(shape)}: axis {axis} alone "
                              f"is longer than the limit (MAX_ELEMENTS) of {limits.MAX_ELEMENTS:,} elements")
        count *= d
    if count > limits.MAX_ELEMENTS:
        raise FileProblem(f"tensor {_label(name)} has shape {_shape_text(shape)}, {count:,} elements; "
                          f"the limit (MAX_ELEMENTS) is {limits.MAX_ELEMENTS:,}")
    return tuple(shape)


def _entry(name: str, entry, data_len: int) -> TensorInfo:
    """One tensor's header entry, checked field by field against the data buffer's length."""
    if not _is_text(name) or not name:
        raise FileProblem(f"the header has a tensor named {_label(name)}; a name is non-empty text")
    if len(name) > MAX_NAME_CHARS:
        raise FileProblem(f"tensor {_label(name)} has a name of {len(name):,} characters; the limit is "
                          f"{MAX_NAME_CHARS:,}")
    if not isinstance(entry, dict):
        raise FileProblem(f"tensor {_label(name)} is described by a {type(entry).__name__}; it must be an "
                          f"object with dtype, shape and data_offsets")
    missing = [f for f in _FIELDS if f not in entry]
    extra = [k for k in entry if k not in _FIELDS]
    if missing or extra:
        parts = ([f"lacks {', '.join(missing)}"] if missing else []) + \
                ([f"has unknown field(s) {', '.join(_label(k) for k in extra[:5])}"] if extra else [])
        raise FileProblem(f"tensor {_label(name)} {' and '.join(parts)}; its entry has exactly dtype, "
                          f"shape and data_offsets")
    dtype = entry["dtype"]
    if not isinstance(dtype, str) or dtype not in _DTYPES:          # a list is not even hashable
        raise FileProblem(f"tensor {_label(name)} has dtype {_brief(dtype)}, which gradstep does "
                          f"not read; the supported dtypes are {_SUPPORTED}")
    shape = _shape(name, entry["shape"])
    offsets = entry["data_offsets"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
        raise FileProblem(f"tensor {_label(name)} has data_offsets {_brief(offsets)}; they must "
                          f"be two whole numbers [begin, end]")
    begin, end = offsets
    if not 0 <= begin <= end <= data_len:
        raise FileProblem(f"tensor {_label(name)} has data_offsets [{begin}, {end}], outside the data "
                          f"buffer of {data_len:,} bytes (0 <= begin <= end <= {data_len} is needed)")
    need = math.prod(shape) * _DTYPES[dtype].itemsize
    if end - begin != need:
        raise FileProblem(f"tensor {_label(name)} has shape {_shape_text(shape)} ({need:,} bytes of "
                          f"{dtype}) but data_offsets [{begin}, {end}] span {end - begin:,} bytes")
    return TensorInfo(name, dtype, shape, begin, end)


def _check_tiling(infos: list[TensorInfo], data_len: int) -> None:
    """The tensors cover the data buffer exactly: no overlap, no hole, nothing after the last one."""
    cursor, previous = 0, None
    for info in sorted(infos, key=lambda i: (i.begin, i.end)):
        if info.begin < cursor:
            raise FileProblem(f"tensor {_label(info.name)} (data_offsets [{info.begin}, {info.end}]) "
                              f"overlaps tensor {_label(previous.name)} (data_offsets [{previous.begin}, "
                              f"{previous.end}]); each byte of data belongs to one tensor")
        if info.begin > cursor:
            after = f"after tensor {_label(previous.name)}" if previous else "at the start of the data"
            raise FileProblem(f"bytes {cursor:,} to {info.begin:,} of the data buffer ({after}, before "
                              f"tensor {_label(info.name)}) belong to no tensor; the tensors must cover "
                              f"the data with no gaps")
        cursor, previous = info.end, info
    if cursor != data_len:
        after = f"after tensor {_label(previous.name)}" if previous else "and the header names no tensor"
        raise FileProblem(f"the data buffer has {data_len - cursor:,} bytes ({cursor:,} to {data_len:,}) "
                          f"{after} that belong to no tensor; a safetensors file ends with its last tensor")


def header(raw: bytes) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Tensor infos (in file order) and the metadata, validated against len(raw); raises FileProblem."""
    n = _header_length(raw)
    data_len = len(raw) - 8 - n
    parsed = _parse_json(raw, n)
    count = len(parsed) - (METADATA in parsed)
    if count > MAX_TENSORS:
        raise FileProblem(f"the header lists {count:,} tensors; the limit is {MAX_TENSORS:,}")
    metadata = _metadata(parsed[METADATA]) if METADATA in parsed else {}
    infos = {name: _entry(name, entry, data_len) for name, entry in parsed.items() if name != METADATA}
    _check_tiling(list(infos.values()), data_len)
    return infos, metadata


def tensor(raw: bytes, info: TensorInfo) -> np.ndarray:
    """That tensor as a new C-ordered float64 array (a copy, never a view of raw)."""
    # info may have been made by hand: re-check the cheap facts frombuffer relies on.
    n = _header_length(raw)
    data_len = len(raw) - 8 - n
    _entry(info.name, {"dtype": info.dtype, "shape": list(info.shape),
                       "data_offsets": [info.begin, info.end]}, data_len)
    count = math.prod(info.shape)
    if count == 0:
        return np.zeros(info.shape, dtype=np.float64)
    stored = np.frombuffer(raw, dtype=_DTYPES[info.dtype], count=count, offset=8 + n + info.begin)
    return _as_float64(info, stored).reshape(info.shape)


def _as_float64(info: TensorInfo, stored: np.ndarray) -> np.ndarray:
    """A float64 copy of the stored numbers, refused where float64 would not hold them exactly."""
    if info.dtype == "BF16":
        return (stored.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    if info.dtype == "BOOL":
        bad = np.flatnonzero(stored > 1)
        if bad.size:
            raise FileProblem(f"BOOL tensor {_label(info.name)} holds the byte {int(stored[bad[0]])} at "
                              f"element {int(bad[0]):,}; a BOOL is stored as 0 or 1")
    if info.dtype == "I64":
        bad = np.flatnonzero((stored > _EXACT_INT) | (stored < -_EXACT_INT))
        if bad.size:
            raise FileProblem(f"I64 tensor {_label(info.name)} holds {int(stored[bad[0]]):,} at element "
                              f"{int(bad[0]):,}; beyond 2**53 in size a float64 cannot hold every whole "
                              f"number, so it would not be read exactly")
    return stored.astype(np.float64)


def _checked_name(name) -> str:
    if not _is_text(name) or not name or name == METADATA or len(name) > MAX_NAME_CHARS:
        raise ValueError(f"tensor name {name!r:.80}: a name is non-empty text of at most "
                         f"{MAX_NAME_CHARS:,} characters, not {METADATA!r}")
    return name


def dump(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """float64 little-endian ("F64"), names in the dict's order, header padded with spaces to 8 bytes."""
    if len(tensors) > MAX_TENSORS:
        raise ValueError(f"{len(tensors):,} tensors; a file holds at most {MAX_TENSORS:,}")
    arrays, entries, offset = [], {}, 0
    if metadata:
        if not all(_is_text(k) and _is_text(v) for k, v in metadata.items()):
            raise ValueError("metadata maps text to text")
        entries[METADATA] = dict(metadata)
    for name, value in tensors.items():
        _checked_name(name)
        a = np.asarray(value)
        if a.dtype.kind not in "biuf":
            raise ValueError(f"tensor {name!r} has dtype {a.dtype}; only real numbers are written")
        if a.ndim > limits.MAX_AXES or a.size > limits.MAX_ELEMENTS:
            raise ValueError(f"tensor {name!r} has shape {a.shape}; gradstep reads at most "
                             f"MAX_AXES={limits.MAX_AXES} axes and MAX_ELEMENTS={limits.MAX_ELEMENTS:,}")
        entries[name] = {"dtype": "F64", "shape": list(a.shape), "data_offsets": [offset, offset + 8 * a.size]}
        arrays.append(a)
        offset += 8 * a.size
    head = json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    if len(head) > limits.MAX_SAFETENSORS_HEADER_BYTES or 8 + len(head) + offset > limits.MAX_WEIGHTS_BYTES:
        raise ValueError(f"the file would be {8 + len(head) + offset:,} bytes with a {len(head):,}-byte "
                         f"header; gradstep reads at most MAX_WEIGHTS_BYTES={limits.MAX_WEIGHTS_BYTES:,} "
                         f"with MAX_SAFETENSORS_HEADER_BYTES={limits.MAX_SAFETENSORS_HEADER_BYTES:,}")
    parts = [len(head).to_bytes(8, "little"), head]
    parts.extend(a.astype("<f8").tobytes(order="C") for a in arrays)
    return b"".join(parts)


def write(path: Path, tensors, metadata=None) -> None:
    """Atomic: write to a temporary file in the same folder, then os.replace; nothing partial is left on error."""
    path = Path(path)
    data = dump(tensors, metadata)              # every refusal happens before the folder is touched
    # A fresh name opened with O_EXCL (never an existing file or symlink); mode 0o666 less the umask.
    tmp = path.with_name(f".{path.name[:100]}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
