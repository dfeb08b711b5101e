using static TorchSharp.torch;

namespace Luffy.Objectives.Tokens;

/// <summary>Per-token log-probs of the given tokens and entropies of the next-token distributions. Owns both tensors.</summary>
public sealed class TokenStatisticsResult : IDisposable
{
    private readonly Tensor logProbs;
    private readonly Tensor entropy;
    private bool disposed;

    internal TokenStatisticsResult(Tensor logProbs, Tensor entropy)
    {
        this.logProbs = logProbs;
        this.entropy = entropy;
    }

    /// <summary>log softmax(z / τ)[token], shape (B, T), the logits' dtype, differentiable with respect to the logits.</summary>
    /// <exception cref="ObjectDisposedException">The result was disposed.</exception>
    public Tensor LogProbs => Live(logProbs);

    /// <summary>H = logsumexp(z / τ) − Σ softmax(z / τ)·(z / τ), shape (B, T), the logits' dtype, differentiable with respect to the logits.</summary>
    /// <exception cref="ObjectDisposedException">The result was disposed.</exception>
    public Tensor Entropy => Live(entropy);

    private Tensor Live(Tensor t)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return t;
    }

    /// <summary>Disposes both tensors. Idempotent.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        logProbs.Dispose();
        entropy.Dispose();
    }
}
