using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Correction;

/// <summary>The weights of <see cref="RolloutCorrection.Compute"/> and their metrics (read once, on request). Owns its tensors.</summary>
public sealed class RolloutCorrectionResult : IDisposable
{
    private readonly Tensor weights;
    private readonly Tensor metricValues;
    private readonly double threshold;
    private readonly bool batchNormalized;
    private RolloutCorrectionMetrics? metrics;
    private bool disposed;

    internal RolloutCorrectionResult(Tensor weights, Tensor metricValues, double threshold, bool batchNormalized)
    {
        this.weights = weights;
        this.metricValues = metricValues;
        this.threshold = threshold;
        this.batchNormalized = batchNormalized;
    }

    /// <summary>
    /// The weights, (B, T), the log-probs' dtype, detached: the truncated (and optionally normalized) importance weight on
    /// corrected tokens, 1 on the other response tokens (trace tokens, tokens without a rollout log-prob), 0 outside the
    /// response. Pass them as <c>PolicyLossInputs.RolloutWeights</c>.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The result was disposed.</exception>
    public Tensor Weights
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            return weights;
        }
    }

    /// <summary>The metrics; the first read copies them from the device in one transfer.</summary>
    /// <exception cref="ObjectDisposedException">The result was disposed before the first read.</exception>
    public RolloutCorrectionMetrics Metrics
    {
        get
        {
            if (metrics is null)
            {
                ObjectDisposedException.ThrowIf(disposed, this);
                metrics = new RolloutCorrectionMetrics(HostTransfer.Read<double>(metricValues), threshold, batchNormalized);
            }
            return metrics;
        }
    }

    /// <summary>Disposes the weights and the metric tensor. Idempotent.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        weights.Dispose();
        metricValues.Dispose();
    }
}
