namespace Luffy.Objectives.Batching;

/// <summary>
/// Ratios evenly spaced over the k carriers ("fixed"): r_i = min + (max − min)·(i + 1)/k for i = 0..k−1, so the last
/// carrier always takes max (with k = 1: just max).
/// </summary>
public sealed class FixedPrefixStrategy : IPrefixRatioStrategy
{
    /// <summary>Creates the strategy.</summary>
    /// <param name="min">Lower bound in [0, 1]. The default is 0.</param>
    /// <param name="max">Upper bound in [min, 1]. The default is 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A bound is outside its range.</exception>
    public FixedPrefixStrategy(double min = 0, double max = 1)
    {
        PrefixRatioRange.Validate(min, max);
        MinRatio = min;
        MaxRatio = max;
    }

    /// <inheritdoc />
    public string Name => $"fixed({MinRatio},{MaxRatio})";

    /// <inheritdoc />
    public double MinRatio { get; }

    /// <inheritdoc />
    public double MaxRatio { get; }

    /// <inheritdoc />
    public IReadOnlyList<double> Ratios(int carriers, long step, Random random)
    {
        PrefixRatioRange.ValidateCarriers(carriers);
        return Enumerable.Range(0, carriers).Select(i => Math.Min(MaxRatio, MinRatio + (MaxRatio - MinRatio) * (i + 1) / carriers)).ToArray();
    }
}
