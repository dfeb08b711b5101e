namespace Luffy.Objectives.Batching;

/// <summary>Every carrier takes the whole trace (r = 1): LUFFY's main run.</summary>
public sealed class FullTraceStrategy : IPrefixRatioStrategy
{
    /// <inheritdoc />
    public string Name => "full";

    /// <inheritdoc />
    public double MinRatio => 1;

    /// <inheritdoc />
    public double MaxRatio => 1;

    /// <inheritdoc />
    public IReadOnlyList<double> Ratios(int carriers, long step, Random random)
    {
        PrefixRatioRange.ValidateCarriers(carriers);
        return Enumerable.Repeat(1.0, carriers).ToArray();
    }
}
