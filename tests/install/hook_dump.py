"""A user's inference script, for tests/python/test_install.py: runs a Hugging Face Llama with
ait_llm's register_hook, importing ait_llm from wherever pip installed it (no PYTHONPATH).

    python hook_dump.py MODEL_DIR DUMP_DIR 1,17,42 STEPS

Prints the file ait_llm was imported from."""
import sys

import torch
from transformers import LlamaForCausalLM

import ait_llm


def main():
    model_dir, dump_dir, prompt, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    ids = torch.tensor([[int(t) for t in prompt.split(",")]])
    model = LlamaForCausalLM.from_pretrained(model_dir, attn_implementation="eager").eval()
    ait_llm.register_hook(model, ait_llm.DumpConfig(dump_path=dump_dir, token_range=list(range(steps))))
    with torch.no_grad():  # greedy decoding with the KV cache (generate() needs torch >= 2 here)
        out = model(input_ids=ids, use_cache=True)
        for _ in range(1, steps):
            token = out.logits[:, -1, :].argmax(-1, keepdim=True)
            out = model(input_ids=token, past_key_values=out.past_key_values, use_cache=True)
    ait_llm.remove_hook()
    print(ait_llm.__file__)


if __name__ == "__main__":
    main()
