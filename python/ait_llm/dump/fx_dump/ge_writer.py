"""Writing one GE dump file (FORMATS.md 9.2), the layout ait's reader (src/formats/ge_dump.cc)
and CANN's msaccucmp read:

  bytes 0..7   uint64 little-endian H, the header length
  8..8+H-1     toolkit.dumpdata.DumpData (ge_dump_data_pb2): version, dump_time, op_name, one
               `input` per input and one `output` per output (data_type, format, shape.dim,
               size in bytes, original_shape for FRACTAL_NZ / NC1HWC0; `data` left empty)
  then         the bytes of every input, then of every output: little-endian, C order

so that the file size is 8 + H + the sum of the sizes.

    write_dump_file(path, "Add_2", inputs=[a, b], outputs=[GeTensor(c)])
    write_dump_file(path, "MatMul", inputs=[GeTensor(x, "FRACTAL_NZ"), ...], outputs=[...])

A plain numpy array is written ND; GeTensor(array, format) writes it FRACTAL_NZ or NC1HWC0
(layouts.py), with `original_shape` = the array's shape.
"""
import dataclasses
import os
import struct

import numpy as np

from . import layouts

DATA_TYPES = {  # numpy dtype -> toolkit.dumpdata.OutputDataType
    np.dtype(np.float32): 1, np.dtype(np.float16): 2, np.dtype(np.int8): 3, np.dtype(np.uint8): 4,
    np.dtype(np.int16): 5, np.dtype(np.uint16): 6, np.dtype(np.int32): 7, np.dtype(np.int64): 8,
    np.dtype(np.uint32): 9, np.dtype(np.uint64): 10, np.dtype(np.bool_): 11, np.dtype(np.float64): 12,
    np.dtype(np.complex64): 16, np.dtype(np.complex128): 17,
}
FORMATS = {"ND": 2, "NC1HWC0": 3, "FRACTAL_NZ": 29}
STREAM_ID = 6
DUMP_VERSION = "2.0"


def data_type_code(dtype):
    dtype = np.dtype(dtype)
    if dtype not in DATA_TYPES:
        raise ValueError(f"no GE data type for numpy {dtype}")
    return DATA_TYPES[dtype]


@dataclasses.dataclass
class GeTensor:
    """An ND array and the format to store it in: "ND", "FRACTAL_NZ" or "NC1HWC0"."""
    array: np.ndarray
    format: str = "ND"

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")

    def stored(self):
        """(stored array, original shape or None)."""
        a = np.asarray(self.array)
        if self.format == "FRACTAL_NZ":
            return layouts.nd_to_fractal_nz(a), a.shape
        if self.format == "NC1HWC0":
            return layouts.nchw_to_nc1hwc0(a), a.shape
        return a, None


def dump_file_name(op_type, op_name, task_id, timestamp, stream_id=STREAM_ID):
    """`<op_type>.<op_name>.<task_id>.<stream_id>.<timestamp>` (no extension)."""
    return f"{op_type}.{op_name}.{task_id}.{stream_id}.{timestamp}"


def _fill(entry, tensor):
    t = tensor if isinstance(tensor, GeTensor) else GeTensor(np.asarray(tensor))
    stored, original = t.stored()
    stored = np.require(stored, requirements="C")  # keeps 0-d arrays 0-d (ascontiguousarray would not)
    data = stored.astype(stored.dtype.newbyteorder("<"), copy=False).tobytes()
    entry.data_type = data_type_code(stored.dtype.newbyteorder("="))
    entry.format = FORMATS[t.format]
    entry.shape.dim.extend(int(d) for d in stored.shape)
    if original is not None:
        entry.original_shape.dim.extend(int(d) for d in original)
    entry.size = len(data)
    return data


def encode_dump(op_name, inputs, outputs, dump_time=0, version=DUMP_VERSION):
    """The bytes of a GE dump file holding `inputs` and `outputs` (arrays or GeTensors)."""
    from ait_llm.dump.ge_proto import ge_dump_data_pb2
    header = ge_dump_data_pb2.DumpData(version=version, dump_time=int(dump_time), op_name=op_name)
    chunks = [_fill(header.input.add(), t) for t in inputs]
    chunks += [_fill(header.output.add(), t) for t in outputs]
    head = header.SerializeToString()
    return b"".join([struct.pack("<Q", len(head)), head, *chunks])


def write_dump_file(path, op_name, inputs, outputs, dump_time=0, version=DUMP_VERSION):
    """Writes one GE dump file at `path` (module docstring); returns the path."""
    with open(path, "wb") as f:
        f.write(encode_dump(op_name, inputs, outputs, dump_time, version))
    return os.fspath(path)
