using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// The result of one loss step: the scalar loss (call <c>backward()</c> on it) and the metrics, kept on the
/// device until <see cref="Metrics"/> is read. Owns its tensors: dispose it after the optimizer step.
/// </summary>
public sealed class PolicyLossResult : IDisposable
{
    private readonly Tensor metricValues;
    private PolicyLossMetrics? metrics;

    private readonly IDisposable? resources;

    internal PolicyLossResult(Tensor loss, Tensor metricValues, IDisposable? resources = null)
    {
        Loss = loss;
        this.metricValues = metricValues;
        this.resources = resources;
    }

    /// <summary>What the kernel keeps for backward (the fused kernel's state); for tests.</summary>
    internal IDisposable? Resources => resources;

    /// <summary>The scalar loss, the log-probs' dtype, differentiable with respect to the log-probs (and entropy).</summary>
    public Tensor Loss { get; }

    /// <summary>The metrics; the first read copies them from the device in one transfer, later reads are cached.</summary>
    public PolicyLossMetrics Metrics => metrics ??= Read();

    private PolicyLossMetrics Read()
    {
        double[] v = metricValues.cpu().data<double>().ToArray();
        return new PolicyLossMetrics(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], (long)v[14], (long)v[15]);
    }

    /// <summary>Disposes the loss and metric tensors, and the fused kernel's cached gradients once no backward can need them.</summary>
    public void Dispose()
    {
        Loss.Dispose();
        metricValues.Dispose();
        resources?.Dispose();
    }
}
