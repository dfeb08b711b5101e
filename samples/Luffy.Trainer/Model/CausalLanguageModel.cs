using TorchSharp;
using static TorchSharp.torch;

namespace Luffy.Trainer.Model;

/// <summary>
/// A decoder-only language model as the trainer sees it: final hidden states (optionally with a KV cache) and the
/// output projection. Logits are hidden · Wᵀ; training computes log-probs and entropies from the hidden states in
/// chunks (<see cref="Luffy.Objectives.Tokens.TokenStatistics.FromHiddenStates"/>), so (B, T, V) logits are never
/// materialized.
/// </summary>
public abstract class CausalLanguageModel(string name) : nn.Module(name)
{
    /// <summary>Number of transformer layers (KV-cache slots).</summary>
    public abstract int Layers { get; }

    /// <summary>The output projection W, (V, H): the LM head, or the token embedding when they are tied.</summary>
    public abstract Tensor OutputWeight { get; }

    /// <summary>
    /// Final (normalized) hidden states, (B, Tn, H). With a cache, <paramref name="ids"/> are the new tokens that follow
    /// the cached ones and <paramref name="keyMask"/> covers cached + new keys.
    /// </summary>
    /// <param name="ids">(B, Tn) int64.</param>
    /// <param name="positionIds">(B, Tn) int64.</param>
    /// <param name="keyMask">(B, Tc + Tn), 1 for real tokens, 0 for padding.</param>
    /// <param name="cache">Updated in place when given.</param>
    public abstract Tensor HiddenStates(Tensor ids, Tensor positionIds, Tensor keyMask, KvCache? cache = null);

    /// <summary>Forces the plain padded (B, T) computation without cached tokens too (tests compare the two).</summary>
    internal bool PaddedLayout { get; set; }

    /// <summary>
    /// The layout a forward pass keeps its per-token states in: without cached tokens (<paramref name="cachedTokens"/> 0:
    /// training, scoring, and generation's prefill into an empty cache) a <see cref="TokenLayout"/>, one state per
    /// distinct causal prefix, so the rows of a group compute their shared prompt once and padding positions not at all;
    /// only attention sees the padded (B, T) layout, and a cache receives its padded keys and values. Null (the plain
    /// (B, T) layout) after cached tokens, with <see cref="PaddedLayout"/>, or when nothing is shared or padded. The real
    /// positions' states are those of the padded computation up to floating-point summation order; a padding
    /// position's state is some real position's.
    /// </summary>
    private protected TokenLayout? LayoutFor(Tensor ids, Tensor positionIds, Tensor keyMask, long cachedTokens) =>
        cachedTokens == 0 && !PaddedLayout ? TokenLayout.Of(ids, positionIds, keyMask) : null;

    /// <summary>Next-token logits at every position, (B, Tn, V); arguments as <see cref="HiddenStates"/>.</summary>
    public Tensor Forward(Tensor ids, Tensor positionIds, Tensor keyMask, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        return nn.functional.linear(HiddenStates(ids, positionIds, keyMask, cache), OutputWeight).MoveToOuterDisposeScope();
    }

    /// <summary>The additive attention mask (B, 1, Tn, Tc + Tn): 0 where a query may attend (causal and not padding), −1e9 elsewhere.</summary>
    protected static Tensor AttentionMask(Tensor keyMask, long offset, long newTokens, ScalarType dtype)
    {
        long total = offset + newTokens;
        Tensor queryIndex = arange(offset, total, device: keyMask.device).unsqueeze(1);
        Tensor keyIndex = arange(0, total, device: keyMask.device).unsqueeze(0);
        Tensor allowed = keyIndex.le(queryIndex).unsqueeze(0).unsqueeze(0).logical_and(keyMask.ne(0).unsqueeze(1).unsqueeze(1));
        return where(allowed, 0.0f, -1e9f).to_type(dtype);
    }
}
