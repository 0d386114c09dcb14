"""A reader for CTranslate2's ``model.bin`` (binary versions 1-6), without CTranslate2.

Layout, as ``Model::load`` in CTranslate2's ``src/models/model.cc`` reads it (all
integers little-endian; a string is a ``uint16`` length counting a trailing NUL, then
the bytes and the NUL):

* ``uint32`` binary version; from version 2, the spec name (string) and ``uint32`` revision;
* ``uint32`` number of variables, then for each: name (string), ``uint8`` rank,
  ``rank`` ``uint32`` dimensions, then from version 4 a ``uint8`` dtype id and a
  ``uint32`` payload size in bytes (before version 4: a ``uint8`` item size and a
  ``uint32`` element count), then the payload;
* from version 3, ``uint32`` number of aliases, then (alias, target) string pairs: an
  alias names a variable that was stored once because its value equals another's.
"""

from __future__ import annotations

import hashlib
import math
import struct
from pathlib import Path

import numpy as np

from realtone_scorer.families.base import ModelLoadError

SUPPORTED_BINARY_VERSIONS = range(1, 7)

# The order of CTranslate2's ``DataType`` enum (include/ctranslate2/types.h).
_DTYPE_IDS: dict[int, str] = {
    0: "float32",
    1: "int8",
    2: "int16",
    3: "int32",
    4: "float16",
    5: "bfloat16",
}
# Before binary version 4 only the item size was stored; CTranslate2 guesses from it.
_ITEM_SIZES: dict[int, str] = {4: "float32", 2: "int16", 1: "int8"}


class _Cursor:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.view = memoryview(data)
        self.pos = 0
        self.path = path

    def _need(self, n: int, what: str) -> None:
        if self.pos + n > len(self.data):
            raise ModelLoadError(
                f"{self.path} is truncated: {what} needs {n} bytes at offset {self.pos},"
                f" the file has {len(self.data)}"
            )

    def uint(self, fmt: str, what: str) -> int:
        size = struct.calcsize(fmt)
        self._need(size, what)
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return int(value)

    def string(self, what: str) -> str:
        length = self.uint("<H", what)
        if length == 0:
            raise ModelLoadError(f"{self.path} is corrupt: empty {what} at offset {self.pos - 2}")
        self._need(length, what)
        raw = bytes(self.view[self.pos : self.pos + length - 1])
        self.pos += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelLoadError(f"{self.path} is corrupt: {what} is not UTF-8") from exc

    def payload(self, n: int, what: str) -> memoryview:
        self._need(n, what)
        out = self.view[self.pos : self.pos + n]
        self.pos += n
        return out


def _to_array(raw: memoryview, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "bfloat16":
        # numpy has no bfloat16: widen to float32 (exact: bf16 is the top half of an fp32).
        halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return halves.view(np.float32).reshape(shape)
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)


def read_ct2(path: Path | str, expected_sha256: str | None = None) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin``, by name, aliases resolved.

    Arrays keep the stored dtype (bfloat16 is widened to float32) and are read-only views of
    the file's bytes; copy before changing them. Raises ``ModelLoadError`` naming the file
    when it is unreadable, not the ``expected_sha256``, truncated, corrupt or of an unknown
    binary version.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256.lower():
            raise ModelLoadError(
                f"{path} has sha256 {actual}, not the expected {expected_sha256.lower()}"
            )
    cur = _Cursor(data, path)

    version = cur.uint("<I", "the binary version")
    if version not in SUPPORTED_BINARY_VERSIONS:
        raise ModelLoadError(
            f"{path} has CTranslate2 binary version {version}; this reader knows"
            f" {SUPPORTED_BINARY_VERSIONS.start}-{SUPPORTED_BINARY_VERSIONS.stop - 1}"
        )
    if version >= 2:
        cur.string("the spec name")
        cur.uint("<I", "the spec revision")

    variables: dict[str, np.ndarray] = {}
    for index in range(cur.uint("<I", "the variable count")):
        name = cur.string(f"the name of variable {index}")
        rank = cur.uint("<B", f"the rank of {name!r}")
        shape = tuple(cur.uint("<I", f"the shape of {name!r}") for _ in range(rank))
        if version >= 4:
            type_id = cur.uint("<B", f"the dtype of {name!r}")
            if type_id not in _DTYPE_IDS:
                raise ModelLoadError(f"{path} is corrupt: {name!r} has unknown dtype id {type_id}")
            dtype = _DTYPE_IDS[type_id]
            num_bytes = cur.uint("<I", f"the size of {name!r}")
        else:
            item_size = cur.uint("<B", f"the item size of {name!r}")
            if item_size not in _ITEM_SIZES:
                raise ModelLoadError(f"{path} is corrupt: {name!r} has item size {item_size}")
            dtype = _ITEM_SIZES[item_size]
            num_bytes = cur.uint("<I", f"the size of {name!r}") * item_size
        item = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
        if num_bytes != math.prod(shape) * item:
            raise ModelLoadError(
                f"{path} is corrupt: {name!r} of shape {shape} and dtype {dtype}"
                f" claims {num_bytes} bytes"
            )
        if name in variables:
            raise ModelLoadError(f"{path} is corrupt: variable {name!r} appears twice")
        variables[name] = _to_array(cur.payload(num_bytes, f"the value of {name!r}"), dtype, shape)

    if version >= 3:
        for _ in range(cur.uint("<I", "the alias count")):
            alias = cur.string("an alias name")
            target = cur.string(f"the target of alias {alias!r}")
            if target not in variables:
                raise ModelLoadError(
                    f"{path} is corrupt: alias {alias!r} names missing variable {target!r}"
                )
            variables[alias] = variables[target]

    if cur.pos != len(data):
        raise ModelLoadError(
            f"{path} is corrupt: {len(data) - cur.pos} unexpected bytes after offset {cur.pos}"
        )
    return variables
