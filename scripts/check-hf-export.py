#!/usr/bin/env python3
"""Check dlab against transformers on tiny random models of several families (optional).

For each family: a random-initialised model with a small config, a tokenizer trained here on a
small corpus (no downloads), saved with save_pretrained, exported with Hugging Face Optimum
(`text-generation-with-past`), prepared with `dlab model prepare --from`, then compared:

  prompt ids   dlab's encodePrompt            vs  tokenizer(prompt).input_ids
  chat ids     dlab's prompt with --chat-template  vs  apply_chat_template(…, add_generation_prompt=True)
  target ids   dlab's continuation tokens     vs  the full text's ids after the context's
  greedy ids   `dlab model generate --temperature 0`  vs  model.generate(do_sample=False)
  log-probs    `dlab model score`              vs  Σ log softmax(model(context ‖ target)) over
                                                  the target's tokens of the full text

Needs: pip install torch transformers optimum-onnx onnx onnxruntime   (not needed by dlab or its tests;
       optimum-onnx is where Optimum ≥ 2 keeps its ONNX exporter)
Run from the repository root after `npm run build`:

  python3 scripts/check-hf-export.py [--families gpt2,llama,...] [--keep DIR] [--fp16]

Exits 1 when a family differs beyond the tolerance (ids must be equal; log-probs within 1e-4).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

FAMILIES = ["gpt2", "llama", "qwen2", "phi3", "gpt_neox", "gemma", "opt"]
CORPUS = [
    "12+34=46", "7+8=15", "the cat sat on the mat.", "a quick brown fox jumps over the lazy dog",
    "Question: what is 3+4? Answer: 7", "hello world", "numbers 0 1 2 3 4 5 6 7 8 9",
] * 20
PROMPTS = ["12+34=", "the cat", "Question: what is 3+4? Answer:"]
SCORES = [("12+34=", "46"), ("the cat", " sat on the mat."), ("Question: what is 3+4? Answer:", " 7")]


def tiny_config(family, vocab):
    from transformers import AutoConfig

    common = dict(vocab_size=vocab, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    if family == "gpt2":
        return AutoConfig.for_model("gpt2", n_embd=32, n_layer=2, n_head=4, n_positions=64, **common)
    if family == "opt":
        return AutoConfig.for_model("opt", hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=64,
                                    word_embed_proj_dim=32, max_position_embeddings=64, **common)
    if family == "gpt_neox":
        return AutoConfig.for_model("gpt_neox", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=64, max_position_embeddings=64, **common)
    kw = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              intermediate_size=64, max_position_embeddings=64, **common)
    if family == "gemma":
        kw["head_dim"] = 8
    if family == "qwen2":
        kw["tie_word_embeddings"] = True
    return AutoConfig.for_model(family, **kw)


def tiny_tokenizer(family, out):
    """A BPE tokenizer trained on CORPUS: byte-level (GPT-2 style) or SentencePiece style (Metaspace + <s> template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    sentencepiece = family in ("llama", "phi3", "gemma")
    tok = Tokenizer(models.BPE(unk_token="<unk>" if sentencepiece else None))
    if sentencepiece:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if not sentencepiece else [])
    tok.train_from_iterator(CORPUS, trainer)
    bos_template = family in ("llama", "phi3", "gemma", "opt")
    if bos_template:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", 1)])
    cls = {"llama": "LlamaTokenizerFast", "gemma": "GemmaTokenizerFast"}.get(family)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    fast.chat_template = "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
    fast.save_pretrained(out)
    if cls:
        path = os.path.join(out, "tokenizer_config.json")
        cfg = json.load(open(path))
        cfg.update(tokenizer_class=cls, add_bos_token=True, add_eos_token=False)
        json.dump(cfg, open(path, "w"), indent=2)
    return PreTrainedTokenizerFast.from_pretrained(out) if not cls else __import__("transformers").AutoTokenizer.from_pretrained(out)


def dlab(*args):
    out = subprocess.run(["node", "dist/cli/main.js", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"dlab {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def check(family, work, fp16):
    import torch
    from optimum.exporters.onnx import main_export
    from transformers import AutoModelForCausalLM

    src = os.path.join(work, family, "hf")
    os.makedirs(src, exist_ok=True)
    tok = tiny_tokenizer(family, src)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_config(family, len(tok)))
    model.eval()
    model.save_pretrained(src)
    export = os.path.join(work, family, "onnx")
    main_export(src, output=export, task="text-generation-with-past", dtype="fp16" if fp16 else "fp32", device="cpu")
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        p = os.path.join(src, f)
        if os.path.exists(p) and not os.path.exists(os.path.join(export, f)):
            open(os.path.join(export, f), "w").write(open(p).read())
    mdir = os.path.join(work, family, "dlab")
    dlab("model", "prepare", "--from", export, "--out", mdir, "--force", "--json")
    rows = []
    for prompt in PROMPTS:
        ids = tok(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            hf = model.generate(ids, do_sample=False, max_new_tokens=12, pad_token_id=0)[0, ids.shape[1]:].tolist()
        ours = dlab("model", "generate", "--model", mdir, "--prompt", prompt, "--temperature", "0", "--max-tokens", "12", "--json")
        hf = hf[: hf.index(2) + 1] if 2 in hf else hf
        rows.append(("prompt", prompt, ids[0].tolist() == ours["promptTokens"], f"hf {ids[0].tolist()} dlab {ours['promptTokens']}"))
        rows.append(("generate", prompt, hf == ours["tokens"], f"hf {hf} dlab {ours['tokens']}"))
        chat = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True)
        chat = chat["input_ids"] if isinstance(chat, dict) else list(chat)
        ours_chat = dlab("model", "generate", "--model", mdir, "--prompt", prompt, "--chat-template", "--temperature", "0", "--max-tokens", "1", "--json")
        rows.append(("chat", prompt, chat == ours_chat["promptTokens"], f"hf {chat} dlab {ours_chat['promptTokens']}"))
    for context, target in SCORES:
        full = tok(context + target, return_tensors="pt").input_ids
        k = len(os.path.commonprefix([tok(context).input_ids, full[0].tolist()]))
        with torch.no_grad():
            logp = torch.log_softmax(model(full).logits[0].double(), -1)
        ref = sum(logp[t - 1, full[0, t]].item() for t in range(k, full.shape[1]))
        ours = dlab("model", "score", "--model", mdir, "--context", context, "--target", target, "--json")
        rows.append(("target", f"{context!r} + {target!r}", full[0, k:].tolist() == ours["tokens"], f"hf {full[0, k:].tolist()} dlab {ours['tokens']}"))
        tol = 2e-2 if fp16 else 1e-4
        rows.append(("score", f"{context!r} + {target!r}", abs(ours["logprob"] - ref) <= tol, f"hf {ref:.6f} dlab {ours['logprob']:.6f} |Δ| {abs(ours['logprob'] - ref):.2e}"))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--keep", help="work directory to keep (default: a temporary one)")
    ap.add_argument("--fp16", action="store_true", help="export in float16 (dlab up-casts to float32); log-prob tolerance 2e-2")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="dlab-hf-check-")
    failed = 0
    summary = {}
    for family in args.families.split(","):
        try:
            rows = check(family, work, args.fp16)
        except Exception as e:  # a family the installed Optimum cannot export, or dlab refuses
            print(f"{family:10s} ERROR {e}")
            failed += 1
            summary[family] = "error"
            continue
        ok = all(r[2] for r in rows)
        failed += 0 if ok else 1
        summary[family] = "ok" if ok else "differs"
        for kind, what, good, detail in rows:
            print(f"{family:10s} {kind:9s} {'ok ' if good else 'DIFF'} {what:45s} {detail}")
    print(json.dumps({"families": summary, "work": work}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
