using static TorchSharp.torch;

namespace Luffy.Objectives.Tokens;

/// <summary>The per-chunk math shared by the chunked token-statistics functions (from logits or from hidden states).</summary>
internal static class ChunkMath
{
    /// <summary>
    /// The floor put under log s before it multiplies s in the entropy: exp(−10⁴) is 0 in every floating-point dtype,
    /// so the floor changes no finite term, and a vocabulary entry with a logit of −∞ (a forbidden token) contributes
    /// 0·(−10⁴) = 0 instead of 0·(−∞) = NaN, to the entropy and to its gradient.
    /// </summary>
    public const double LogProbabilityFloor = -1e4;

    /// <summary>
    /// Writes log softmax(z)[id] and the entropy of softmax(z) of one chunk of scaled logits z (rows, V). The entropy
    /// logsumexp(z) − Σ s·z is evaluated as −Σ s·log s (the same value), which does not cancel two large terms when
    /// the logits are large and the distribution peaked.
    /// </summary>
    public static void Forward(Tensor z, Tensor ids, Tensor logProbsOut, Tensor entropyOut)
    {
        Tensor logSoftmax = z - z.logsumexp(1, keepdim: true);
        logProbsOut.copy_(logSoftmax.gather(1, ids.unsqueeze(1)).squeeze(1));
        entropyOut.copy_(Entropy(logSoftmax));
    }

    /// <summary>
    /// −Σ s·log s over the last dimension from log s (the log-softmax), with log s floored at
    /// <see cref="LogProbabilityFloor"/>: the one entropy formula of every token-statistics path.
    /// </summary>
    public static Tensor Entropy(Tensor logSoftmax) => (logSoftmax.exp() * logSoftmax.clamp_min(LogProbabilityFloor)).sum(-1).neg();

    /// <summary>
    /// ∂/∂z of Σ g_lp·logp + g_H·H for one chunk: g_lp·(onehot − s) − g_H·s ⊙ (z − E_s[z]), divided by τ (the chain
    /// rule through z = logits/τ). <paramref name="z"/> is consumed (overwritten).
    /// </summary>
    public static Tensor Gradient(Tensor z, Tensor ids, Tensor gradLogProbs, Tensor gradEntropy, double temperature)
    {
        z.sub_(z.logsumexp(1, keepdim: true)); // z − E_s[z] is shift-invariant: work with log s, whose values are small
        z.clamp_min_(LogProbabilityFloor); // where s = 0 (a logit of −∞) every term below is 0, not 0·∞
        Tensor probabilities = z.exp();
        Tensor expectedLogit = (probabilities * z).sum(1, keepdim: true);
        Tensor gLogProbs = gradLogProbs.unsqueeze(1);
        Tensor g = z.sub_(expectedLogit).mul_(gradEntropy.unsqueeze(1)).add_(gLogProbs).mul_(probabilities).neg_();
        g = g.scatter_add(1, ids.unsqueeze(1), gLogProbs);
        return temperature == 1.0 ? g : g.div_(temperature);
    }

    /// <summary>An incoming gradient, or zeros where the output was not used (undefined gradient).</summary>
    public static Tensor Defined(Tensor? gradient, long rows, Tensor like) =>
        gradient is null || gradient.IsInvalid ? zeros(rows, dtype: like.dtype, device: like.device) : gradient.reshape(-1);
}
