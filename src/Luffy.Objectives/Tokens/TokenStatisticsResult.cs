using static TorchSharp.torch;

namespace Luffy.Objectives.Tokens;

/// <summary>Per-token log-probs of the given tokens and entropies of the next-token distributions. Owns both tensors.</summary>
public sealed class TokenStatisticsResult : IDisposable
{
    internal TokenStatisticsResult(Tensor logProbs, Tensor entropy)
    {
        LogProbs = logProbs;
        Entropy = entropy;
    }

    /// <summary>log softmax(z / τ)[token], shape (B, T), the logits' dtype, differentiable with respect to the logits.</summary>
    public Tensor LogProbs { get; }

    /// <summary>H = logsumexp(z / τ) − Σ softmax(z / τ)·(z / τ), shape (B, T), the logits' dtype, differentiable with respect to the logits.</summary>
    public Tensor Entropy { get; }

    /// <summary>Disposes both tensors.</summary>
    public void Dispose()
    {
        LogProbs.Dispose();
        Entropy.Dispose();
    }
}
