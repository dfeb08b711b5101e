namespace Luffy.Objectives.Batching;

/// <summary>Each carrier draws r ~ U(min, max) independently ("random").</summary>
public sealed class UniformPrefixStrategy : IPrefixRatioStrategy
{
    /// <summary>Creates the strategy.</summary>
    /// <param name="min">Lower bound in [0, 1]. The default is 0.</param>
    /// <param name="max">Upper bound in [min, 1]. The default is 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A bound is outside its range.</exception>
    public UniformPrefixStrategy(double min = 0, double max = 1)
    {
        PrefixRatioRange.Validate(min, max);
        MinRatio = min;
        MaxRatio = max;
    }

    /// <inheritdoc />
    public string Name => $"random({MinRatio},{MaxRatio})";

    /// <inheritdoc />
    public double MinRatio { get; }

    /// <inheritdoc />
    public double MaxRatio { get; }

    /// <inheritdoc />
    public IReadOnlyList<double> Ratios(int carriers, long step, Random random)
    {
        PrefixRatioRange.ValidateCarriers(carriers);
        ArgumentNullException.ThrowIfNull(random);
        return Enumerable.Range(0, carriers).Select(_ => MinRatio + (MaxRatio - MinRatio) * random.NextDouble()).ToArray();
    }
}
