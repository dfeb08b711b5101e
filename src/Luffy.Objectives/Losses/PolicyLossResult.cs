using Luffy.Objectives.Internal;
using TorchSharp;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// The result of one loss step: the scalar loss (call <c>backward()</c> on it), the metrics (computed or kept on the
/// device until <see cref="Metrics"/> is read), and which kernel ran. Owns its tensors: dispose it after the optimizer
/// step; a loss tensor taken from it dies with it.
/// </summary>
public sealed class PolicyLossResult : IDisposable
{
    private readonly Tensor loss;
    private readonly IDisposable? resources;
    private Tensor? metricValues;
    private int[]? metricSlots;
    private LazyMetrics? lazy;
    private PolicyLossMetrics? metrics;
    private bool disposed;

    internal PolicyLossResult(Tensor loss, Tensor metricValues, LossKernel kernel, string kernelReason, IDisposable? resources = null)
    {
        this.loss = loss;
        this.metricValues = metricValues;
        this.resources = resources;
        Kernel = kernel;
        KernelReason = kernelReason;
    }

    /// <summary>
    /// A result whose metrics are computed on the first read of <see cref="Metrics"/> from tensors the step kept
    /// (<paramref name="metricInputs"/>, owned here and released then or on dispose): a step whose metrics are never
    /// read never pays for their reductions. The computation returns the values and the <see cref="MetricSlots"/> slot
    /// of each (slots it leaves out are 0).
    /// </summary>
    internal PolicyLossResult(Tensor loss, Func<(Tensor Values, int[] Slots)> computeMetrics, IReadOnlyList<Tensor> metricInputs, LossKernel kernel, string kernelReason)
    {
        this.loss = loss;
        lazy = new LazyMetrics(computeMetrics, metricInputs);
        Kernel = kernel;
        KernelReason = kernelReason;
    }

    /// <summary>What the kernel keeps for backward (the fused kernel's state); for tests.</summary>
    internal IDisposable? Resources => resources;

    /// <summary>The scalar loss, the log-probs' dtype, differentiable with respect to the log-probs (and entropy).</summary>
    /// <exception cref="ObjectDisposedException">The result was disposed.</exception>
    public Tensor Loss
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            return loss;
        }
    }

    /// <summary>The kernel that ran: <see cref="LossKernel.Fused"/> or <see cref="LossKernel.Composed"/>.</summary>
    public LossKernel Kernel { get; }

    /// <summary>Why the composed kernel ran (the options asked for it, or what the fused kernel does not support); empty when the fused kernel ran.</summary>
    public string KernelReason { get; }

    /// <summary>The metrics; the first read copies them from the device in one transfer, later reads are cached.</summary>
    /// <exception cref="ObjectDisposedException">The result was disposed before the first read.</exception>
    public PolicyLossMetrics Metrics => metrics ??= Read();

    private PolicyLossMetrics Read()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (lazy is not null)
        {
            using (torch.no_grad())
            {
                (metricValues, metricSlots) = lazy.Compute();
            }
            lazy.Dispose();
            lazy = null;
        }
        double[] values = HostTransfer.Read<double>(metricValues!);
        if (metricSlots is null)
        {
            return new PolicyLossMetrics(values);
        }
        var raw = new double[MetricSlots.Count];
        for (int i = 0; i < metricSlots.Length; i++)
        {
            raw[metricSlots[i]] = values[i];
        }
        return new PolicyLossMetrics(raw);
    }

    /// <summary>Disposes the loss and metric tensors, and the fused kernel's cached gradients once no backward can need them. Idempotent.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        loss.Dispose();
        metricValues?.Dispose();
        lazy?.Dispose();
        resources?.Dispose();
    }

    /// <summary>The deferred metric computation and the detached tensors it reads (owned here).</summary>
    private sealed class LazyMetrics(Func<(Tensor Values, int[] Slots)> compute, IReadOnlyList<Tensor> inputs) : IDisposable
    {
        public (Tensor Values, int[] Slots) Compute()
        {
            using var scope = NewDisposeScope();
            (Tensor values, int[] slots) = compute();
            return (values.MoveToOuterDisposeScope(), slots);
        }

        public void Dispose()
        {
            foreach (Tensor t in inputs)
            {
                t.Dispose();
            }
        }
    }
}
