"""The GE graph text torchair writes with `debug.graph_dump.type = "txt"` (FORMATS.md 9.3):
`text_format.MessageToString` of a ge_ir_pb2.GraphDef, named
`dynamo_original_graph_<graph id>_rank_0_pid_<pid>_ts_<microseconds since the epoch>.txt`.

It is the graph before fusion: every Data, Const, compute and NetOutput operator, each input as
`input: "<producer>:<output index>"` with an `input_desc`, each output as an `output_desc`
(dtype, shape.dim, layout "ND"); a compute operator's output_desc k carries the attribute
`_fx_tensor_name` = `<fx node name>-<aten target>.OUTPUT.<k>`; a Data operator has the attribute
`index` (its placeholder position).
"""
import os

import numpy as np
import torch

from .ge_writer import data_type_code


def ge_data_type(dtype):
    """ge.proto.DataType (same numbers as toolkit.dumpdata.OutputDataType) of a torch dtype."""
    if dtype == torch.bfloat16:
        return 27
    return data_type_code(np.dtype(torch.empty((), dtype=dtype).numpy().dtype))


def graph_def(graph):
    from ait_llm.dump.ge_proto import ge_ir_pb2

    def describe(desc, tensor):
        desc.dtype = ge_data_type(tensor.dtype)
        desc.shape.dim.extend(int(d) for d in tensor.shape)
        desc.layout = "ND"

    g = ge_ir_pb2.GraphDef(name=graph.name)
    for op in graph.ops:
        o = g.op.add(name=op.name, type=op.type)
        for producer, index in op.inputs:
            o.input.append(f"{producer}:{index}")
            describe(o.input_desc.add(), graph.by_name[producer].outputs[index])
        for k, out in enumerate(op.outputs):
            desc = o.output_desc.add()
            describe(desc, out)
            if op.kind == "compute":
                desc.attr["_fx_tensor_name"].s = op.fx_names[k].encode()
        if op.kind == "data":
            o.attr["index"].i = op.index
    return g


def graph_text(graph):
    from google.protobuf import text_format
    return text_format.MessageToString(graph_def(graph))


def write_graph_text(graph, folder, stamp_us, graph_id=1, pid=None):
    """Writes the graph text into `folder`; returns its path."""
    pid = os.getpid() if pid is None else pid
    path = os.path.join(folder, f"dynamo_original_graph_{graph_id}_rank_0_pid_{pid}_ts_{stamp_us}.txt")
    with open(path, "w") as f:
        f.write(graph_text(graph))
    return path
