namespace Luffy.Objectives.Batching;

/// <summary>
/// r ~ U(min, upper) with an upper bound that shrinks over 10 windows of S steps ("linear_max"):
/// window w = min(⌊step/S⌋, 9), upper = max(min, max·(1 − w/10)).
/// </summary>
public sealed class LinearMaxPrefixStrategy : IPrefixRatioStrategy
{
    /// <summary>Creates the strategy.</summary>
    /// <param name="steps">S ≥ 1, the length of one window in steps.</param>
    /// <param name="min">Lower bound in [0, 1]. The default is 0.</param>
    /// <param name="max">Upper bound at step 0, in [min, 1]. The default is 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    public LinearMaxPrefixStrategy(long steps, double min = 0, double max = 1)
    {
        PrefixRatioRange.ValidateSteps(steps);
        PrefixRatioRange.Validate(min, max);
        Steps = steps;
        MinRatio = min;
        MaxRatio = max;
    }

    /// <summary>S, the window length in steps.</summary>
    public long Steps { get; }

    /// <inheritdoc />
    public string Name => $"linear_max(S={Steps},{MinRatio},{MaxRatio})";

    /// <inheritdoc />
    public double MinRatio { get; }

    /// <inheritdoc />
    public double MaxRatio { get; }

    /// <summary>The upper bound in force at <paramref name="step"/>.</summary>
    /// <param name="step">The training step, ≥ 0.</param>
    public double UpperBound(long step)
    {
        PrefixRatioRange.ValidateStep(step);
        long window = Math.Min(step / Steps, 9);
        return Math.Max(MinRatio, MaxRatio * (1 - window / 10.0));
    }

    /// <inheritdoc />
    public IReadOnlyList<double> Ratios(int carriers, long step, Random random)
    {
        PrefixRatioRange.ValidateCarriers(carriers);
        ArgumentNullException.ThrowIfNull(random);
        double upper = UpperBound(step);
        return Enumerable.Range(0, carriers).Select(_ => MinRatio + (upper - MinRatio) * random.NextDouble()).ToArray();
    }
}
