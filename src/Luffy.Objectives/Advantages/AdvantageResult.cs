using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// Sequence-level advantages and the group statistics of the batch they came from. Owns its tensors:
/// dispose it (or move <see cref="Advantages"/> out with <c>DisposeScope</c> tools) when done.
/// </summary>
public sealed class AdvantageResult : IDisposable
{
    private readonly Tensor statisticsTensor;
    private GroupStatistics? statistics;

    internal AdvantageResult(Tensor advantages, Tensor statisticsTensor)
    {
        Advantages = advantages;
        this.statisticsTensor = statisticsTensor;
    }

    /// <summary>One advantage per sequence, shape (B), the rewards' dtype and device; detached (no gradient).</summary>
    public Tensor Advantages { get; }

    /// <summary>Group statistics; the first read copies six numbers from the device, later reads are cached.</summary>
    public GroupStatistics Statistics => statistics ??= ReadStatistics();

    /// <summary>Broadcasts the advantages to tokens: A[b, t] = advantages[b] where the mask is set, else 0.</summary>
    /// <param name="responseMask">Response mask, shape (B, T), bool or 0/1 of any dtype. Not disposed.</param>
    /// <returns>A fresh (B, T) tensor in the advantages' dtype.</returns>
    public Tensor ToTokens(Tensor responseMask) => TokenAdvantages.Broadcast(Advantages, responseMask);

    private GroupStatistics ReadStatistics()
    {
        double[] values = statisticsTensor.cpu().data<double>().ToArray();
        return new GroupStatistics((long)values[0], (long)values[1], (long)values[2], (long)values[3], values[4], values[5]);
    }

    /// <summary>Disposes the advantages and statistics tensors.</summary>
    public void Dispose()
    {
        Advantages.Dispose();
        statisticsTensor.Dispose();
    }
}
