"""The CFG control layer (Eq. 10) against attention written out by hand, frame by frame."""
import torch

from fada.models.attention import CFGLayer


def test_the_cfg_layer_is_cross_attention_of_each_frame_to_its_own_clips_tokens():
    torch.manual_seed(0)
    dim, cfg_dim, heads, clips, frames, n, tokens = 16, 8, 4, 2, 3, 5, 4
    layer = CFGLayer(dim, cfg_dim, heads).eval()
    torch.nn.init.normal_(layer.attn.to_out[0].weight)      # trained: no longer the zero map
    x = torch.randn(clips * frames, n, dim)
    emb = torch.randn(clips, tokens, cfg_dim)
    with torch.no_grad():
        got = layer(x, emb)
        a, d = layer.attn, dim // heads
        want = torch.empty_like(got)
        for i in range(clips * frames):
            c = i // frames                                  # frames of one clip are consecutive
            q = a.to_q(layer.norm(x[i])).view(n, heads, d).transpose(0, 1)
            k = a.to_k(emb[c]).view(tokens, heads, d).transpose(0, 1)
            v = a.to_v(emb[c]).view(tokens, heads, d).transpose(0, 1)
            w = torch.softmax(q @ k.transpose(1, 2) / d ** 0.5, dim=-1)
            want[i] = a.to_out[0]((w @ v).transpose(0, 1).reshape(n, dim))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
