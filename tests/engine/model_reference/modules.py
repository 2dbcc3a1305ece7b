"""The PyTorch modules the reference models were exported from (mlp.onnx, lenet.onnx, transformer.onnx),
imported by make_reference.py, which writes the fixtures, and by bench/models.py, which times gradstep
against them: one definition. It needs torch only (make_reference.py also needs onnx and scikit-learn).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 16)
        self.fc2 = nn.Linear(16, 8)
        self.fc3 = nn.Linear(8, 3)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        h = F.gelu(self.fc2(h))                 # approximate="none": the erf form
        return self.fc3(h)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.pool2 = nn.AvgPool2d(2)
        self.fc1 = nn.Linear(32, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):                       # x: (batch, 1, 8, 8)
        h = self.pool1(torch.relu(self.bn1(self.conv1(x))))      # (batch, 4, 4, 4)
        h = self.pool2(torch.relu(self.conv2(h)))                # (batch, 8, 2, 2)
        h = torch.flatten(h, 1)                                  # (batch, 32)
        return self.fc2(torch.tanh(self.fc1(h)))


VOCAB, SEQ, DIM, HEADS = 11, 6, 8, 2
HEAD_DIM = DIM // HEADS
MASKED = -1e9       # a large finite negative, not -inf


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(DIM, DIM)
        self.k = nn.Linear(DIM, DIM)
        self.v = nn.Linear(DIM, DIM)
        self.out = nn.Linear(DIM, DIM)
        # True where query position i may look at key position j (j <= i); not a parameter.
        self.register_buffer("causal_mask", torch.tril(torch.ones(SEQ, SEQ, dtype=torch.bool)), persistent=False)

    def forward(self, h):                       # h: (batch, seq, dim)
        B, T, _ = h.shape
        q = self.q(h).view(B, T, HEADS, HEAD_DIM).transpose(1, 2)     # (batch, heads, seq, head_dim)
        k = self.k(h).view(B, T, HEADS, HEAD_DIM).transpose(1, 2)
        v = self.v(h).view(B, T, HEADS, HEAD_DIM).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / HEAD_DIM ** 0.5              # / sqrt(4) = / 2.0
        scores = torch.where(self.causal_mask, scores, MASKED)
        a = torch.softmax(scores, dim=-1)
        o = (a @ v).transpose(1, 2).reshape(B, T, DIM)
        return self.out(o)


class FeedForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(DIM, 2 * DIM)
        self.fc2 = nn.Linear(2 * DIM, DIM)

    def forward(self, h):
        return self.fc2(F.gelu(self.fc1(h)))


class TinyTransformer(nn.Module):
    """One pre-LayerNorm block: x = tok + pos; x += attn(ln1(x)); x += mlp(ln2(x)); logits = head(x)."""

    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(VOCAB, DIM)
        self.pos_emb = nn.Parameter(torch.empty(SEQ, DIM))
        self.ln1 = nn.LayerNorm(DIM)
        self.attn = Attention()
        self.ln2 = nn.LayerNorm(DIM)
        self.mlp = FeedForward()
        self.head = nn.Linear(DIM, VOCAB)
        nn.init.normal_(self.pos_emb, 0.0, 0.1)

    def forward(self, ids):                     # ids: (batch, seq) int64
        x = self.tok_emb(ids) + self.pos_emb
        x = x + self.attn(self.ln1(x))
        x = x + self.mlp(self.ln2(x))
        return self.head(x)                     # (batch, seq, vocab)
