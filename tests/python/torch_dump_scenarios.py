"""Scenario runner for test_torch_dump.py: dumps the tiny Hugging Face Llama with
ait_llm.register_hook in a child process (DumpConfig is a process singleton).

    python torch_dump_scenarios.py CHECKPOINT OUT SCENARIO...

Each scenario writes its dump under OUT/<scenario>/ and, beside it, ref.pt (tensors
captured independently: plain torch forward hooks, the model's own return values) and
facts.json (everything else the test asserts on; "error" holds a traceback if it failed).
Scenarios run one after another in this process, with remove_hook() + DumpConfig.reset()
between them (which is itself under test)."""
import gc
import json
import os
import pathlib
import sys
import traceback

import torch
import torch.nn.functional as F

import hf_llama  # python/golden, on PYTHONPATH
import ait_llm
from ait_llm import DumpConfig, register_hook, remove_hook

PROMPT = [1, 17, 42, 99, 200]


def decode(model, steps, keep=True):
    """Greedy decoding with the KV cache (step 0 = prefill). Returns the model outputs of
    every step if keep, with .cache = copies of the cache tensors after that step (the
    cache object itself is updated in place by later steps)."""
    outs = []
    ids = torch.tensor([PROMPT])
    past = None
    with torch.no_grad():
        for _ in range(steps):
            out = model(input_ids=ids, past_key_values=past, use_cache=True)
            past = out.past_key_values
            ids = out.logits[:, -1:].argmax(-1)
            if keep:
                out.cache = [(k.clone(), v.clone()) for k, v in zip(past.key_cache, past.value_cache)]
                outs.append(out)
    return outs


def expected_files(value, stem, found, cache_layers):
    """The documented naming, written independently of ait_llm: tensor -> stem, sequence
    or ModelOutput -> stem_<i>, DynamicCache -> stem_<layer>_<0 key|1 value> for the
    layers in cache_layers."""
    if isinstance(value, torch.Tensor):
        found[stem] = value.detach().clone()
    elif hasattr(value, "key_cache"):
        for layer, kv in enumerate(zip(value.key_cache, value.value_cache)):
            if layer in cache_layers:
                expected_files(kv, f"{stem}_{layer}", found, cache_layers)
    elif hasattr(value, "to_tuple"):
        expected_files(value.to_tuple(), stem, found, cache_layers)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            expected_files(item, f"{stem}_{i}", found, cache_layers)
    return found


class Capture:
    """Plain torch forward hooks on every module: what each saw positionally and returned,
    per root call, in the order the hooks fired. Cache tensors: all layers at the root,
    the module's own layer where it has a layer_idx, none elsewhere."""

    def __init__(self, model):
        self.token = -1
        self.files = {}
        self.order = {}
        self.handles = [model.register_forward_pre_hook(self._count)]
        for name, module in model.named_modules():
            full = "root" + ("." + name if name else "")
            layers = range(1000) if module is model else [getattr(module, "layer_idx", None)]
            self.handles.append(module.register_forward_hook(self._hook(full, layers)))

    def _count(self, module, inputs):
        self.token += 1
        self.order[self.token] = []

    def _hook(self, name, layers):
        def hook(module, inputs, output):
            self.order[self.token].append({"name": name, "type": type(module).__name__})
            for stem, t in expected_files(inputs, "input", {}, layers).items():
                self.files[f"{self.token}/{name}/{stem}.pth"] = t
            outs = expected_files(output, "output", {}, layers)
            for stem, t in outs.items():
                self.files[f"{self.token}/{name}/{stem}.pth"] = t
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def file_set(root):
    root = pathlib.Path(root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# ---- scenarios --------------------------------------------------------------------------
# Each gets (checkpoint, out folder) and returns (facts dict, refs dict).

def scenario_full(ckpt, out):
    """Defaults except token_range: 4 steps, tokens 0-2 dumped; plain hooks capture too."""
    model = hf_llama.load_model(ckpt)
    before = [o.logits for o in decode(model, 4)]
    capture = Capture(model)
    handle = register_hook(model, DumpConfig(dump_path=str(out / "dump"), token_range=[0, 1, 2]))
    outs = decode(model, 4)
    handle.remove()
    capture.remove()
    refs = {"files": capture.files, "before": before, "after": [o.logits for o in outs],
            "cache": [o.cache for o in outs]}
    expected_tree = {"root": {"type": type(model).__name__, "children": []}}
    for name, module in model.named_modules():
        if name:
            full = "root." + name
            expected_tree[full] = {"type": type(module).__name__, "children": []}
            expected_tree[full.rsplit(".", 1)[0]]["children"].append(full)
    facts = {"dump_dir": handle.dump_dir, "pid": os.getpid(), "order": capture.order,
             "expected_tree": expected_tree,
             "layers": model.config.num_hidden_layers}
    return facts, refs


def scenario_api(ckpt, out):
    """mode module+api, default api_list: matmul/softmax/silu/rsqrt folders."""
    model = hf_llama.load_model(ckpt)
    handle = register_hook(model, DumpConfig(dump_path=str(out / "dump"), mode=["module", "api"]))
    decode(model, 2)
    handle.remove()
    return {"dump_dir": handle.dump_dir}, {}


def scenario_api_only(ckpt, out):
    """mode 'api' with api_list [torch.matmul, F.silu]: only those folders, token 1."""
    model = hf_llama.load_model(ckpt)
    originals = (torch.matmul, F.silu, torch.softmax)
    handle = register_hook(model, DumpConfig(dump_path=str(out / "dump"), mode="api",
                                             api_list=[torch.matmul, F.silu], token_range=[1]))
    wrapped = [torch.matmul is not originals[0], F.silu is not originals[1],
               torch.softmax is not originals[2]]
    decode(model, 2)
    handle.remove()
    restored = [torch.matmul is originals[0], F.silu is originals[1], torch.softmax is originals[2]]
    return {"dump_dir": handle.dump_dir, "wrapped": wrapped, "restored": restored}, {}


def scenario_linear_outputs(ckpt, out):
    """module_list [nn.Linear], tensor_part 1, token_range [1]."""
    model = hf_llama.load_model(ckpt)
    handle = register_hook(model, DumpConfig(dump_path=str(out / "dump"), token_range=[1],
                                             module_list=[torch.nn.Linear], tensor_part=1))
    decode(model, 3)
    handle.remove()
    linears = sorted("root." + n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear))
    return {"dump_dir": handle.dump_dir, "linears": linears}, {}


def scenario_layer_inputs(ckpt, out):
    """layer_name 'root.model.layers.1.*', tensor_part 0."""
    model = hf_llama.load_model(ckpt)
    handle = register_hook(model, DumpConfig(dump_path=str(out / "dump"), tensor_part=0,
                                             layer_name="root.model.layers.1.*"))
    decode(model, 1)
    handle.remove()
    return {"dump_dir": handle.dump_dir}, {}


def scenario_layer_proj(ckpt, out):
    """layer_name '*proj' (a wildcard at the start)."""
    model = hf_llama.load_model(ckpt)
    handle = register_hook(model, DumpConfig(dump_path=str(out / "dump"), layer_name="*proj"))
    decode(model, 1)
    handle.remove()
    projs = sorted("root." + n for n, _ in model.named_modules() if n.endswith("proj"))
    return {"dump_dir": handle.dump_dir, "projs": projs}, {}


def scenario_cpu_device_id(ckpt, out):
    """device_id on a CPU model: the original's filter lets CPU through."""
    model = hf_llama.load_model(ckpt)
    handle = register_hook(model, DumpConfig(dump_path=str(out / "dump"), device_id=3,
                                             layer_name="root.lm_head"))
    decode(model, 1)
    handle.remove()
    return {"dump_dir": handle.dump_dir}, {}


def scenario_meta_device_id(ckpt, out):
    """device_id 0 on a model whose device string is 'meta' (not 'meta0'): nothing at all."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()).to("meta")
    handle = register_hook(model, DumpConfig(dump_path=str(out / "dump"), device_id=0,
                                             dump_weight=True))
    model(torch.zeros(2, 4, device="meta"))
    handle.remove()
    return {"dump_dir": handle.dump_dir}, {}


def scenario_last_logits(ckpt, out):
    """dump_last_logits over tokens 0 and 2 of 3 steps."""
    model = hf_llama.load_model(ckpt)
    handle = register_hook(model, DumpConfig(dump_path=str(out / "dump"), dump_last_logits=True,
                                             token_range=[0, 2]))
    outs = decode(model, 3)
    handle.remove()
    return {"dump_dir": handle.dump_dir}, {"logits": [o.logits for o in outs]}


def scenario_weights(ckpt, out):
    """dump_weight with layer_name 'root.model.layers.0*', no token dumped."""
    model = hf_llama.load_model(ckpt)
    handle = register_hook(model, DumpConfig(dump_path=str(out / "dump"), dump_weight=True,
                                             layer_name="root.model.layers.0*", token_range=[]))
    decode(model, 1)
    handle.remove()
    return {"dump_dir": handle.dump_dir}, {"state": {"root." + k: v.clone() for k, v in
                                                     model.state_dict().items()}}


def scenario_removal(ckpt, out):
    """Hook, decode, remove: forwards and torch functions restored, outputs identical, no
    more files; a second registration while one is active returns the same handle; after
    removal a new one (after DumpConfig.reset()) works; the singleton rule."""
    model = hf_llama.load_model(ckpt)
    reference = [o.logits for o in decode(model, 3)]
    matmul = torch.matmul
    first = DumpConfig(dump_path=str(out / "first"), token_range=[0, 1, 2], mode=["module", "api"])
    again = DumpConfig(dump_path=str(out / "ignored"))
    handle = register_hook(model, first)
    handle_again = register_hook(model, first)
    hooked = sum("forward" in vars(m) for m in model.modules())
    decode(model, 2)
    ait_llm.remove_hook()
    files_after_remove = file_set(out / "first")
    after = [o.logits for o in decode(model, 3)]
    facts = {
        "singleton_same_object": again is first,
        "singleton_dump_path": again.dump_path,
        "same_handle": handle_again is handle,
        "hooked_modules": hooked,
        "modules": sum(1 for _ in model.modules()),
        "instance_forwards_left": sum("forward" in vars(m) for m in model.modules()),
        "matmul_restored": torch.matmul is matmul,
        "removed": handle.removed,
        "files_after_remove": files_after_remove,
        "files_later": file_set(out / "first"),
    }
    handle.remove()  # a second remove is a no-op
    DumpConfig.reset()
    second = DumpConfig(dump_path=str(out / "second"), layer_name="root.lm_head")
    handle2 = register_hook(model, second)
    decode(model, 1)
    handle2.remove()
    facts["second_files"] = file_set(out / "second")
    facts["second_is_new_config"] = second is not first
    return facts, {"reference": reference, "after": after}


def scenario_memory(ckpt, out):
    """50 dumped tokens (modules and APIs): live tensors and RSS after token 10 and 50."""
    model = hf_llama.load_model(ckpt)
    handle = register_hook(model, DumpConfig(dump_path=str(out / "dump"), token_range=list(range(60)),
                                             mode=["module", "api"]))
    samples = {}
    ids = torch.tensor([PROMPT])
    past = None
    page = os.sysconf("SC_PAGE_SIZE")
    with torch.no_grad():
        for step in range(1, 51):
            out_ = model(input_ids=ids, past_key_values=past, use_cache=True)
            past = out_.past_key_values
            ids = out_.logits[:, -1:].argmax(-1)
            del out_
            if step in (10, 50):
                gc.collect()
                tensors = sum(1 for o in gc.get_objects() if issubclass(type(o), torch.Tensor))
                rss = int(open("/proc/self/statm").read().split()[1]) * page
                samples[step] = {"tensors": tensors, "rss": rss,
                                 "cache_len": int(past.get_seq_length())}
    handle.remove()
    return {"dump_dir": handle.dump_dir, "samples": samples}, {}


def main(argv):
    ckpt, out_root, names = argv[0], pathlib.Path(argv[1]), argv[2:]
    os.umask(0o022)
    torch.manual_seed(0)
    for name in names:
        out = out_root / name
        out.mkdir(parents=True, exist_ok=True)
        try:
            facts, refs = globals()["scenario_" + name](ckpt, out)
        except Exception:
            facts, refs = {"error": traceback.format_exc()}, {}
        finally:
            remove_hook()
            DumpConfig.reset()
        torch.save(refs, out / "ref.pt")
        (out / "facts.json").write_text(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
