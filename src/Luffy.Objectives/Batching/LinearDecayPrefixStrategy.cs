namespace Luffy.Objectives.Batching;

/// <summary>r = start·(1 − min(step/S, 1)) for every carrier: guidance fades out linearly over S steps ("linear"; start 0.8 in the reference).</summary>
public sealed class LinearDecayPrefixStrategy : IPrefixRatioStrategy
{
    /// <summary>Creates the strategy.</summary>
    /// <param name="steps">S ≥ 1, the steps over which the ratio decays to 0.</param>
    /// <param name="start">The ratio at step 0, in [0, 1]. The default is 0.8.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    public LinearDecayPrefixStrategy(long steps, double start = 0.8)
    {
        PrefixRatioRange.ValidateSteps(steps);
        PrefixRatioRange.Validate(0, start);
        Steps = steps;
        MaxRatio = start;
    }

    /// <summary>S, the decay length in steps.</summary>
    public long Steps { get; }

    /// <inheritdoc />
    public string Name => $"linear(S={Steps},start={MaxRatio})";

    /// <inheritdoc />
    public double MinRatio => 0;

    /// <inheritdoc />
    public double MaxRatio { get; }

    /// <inheritdoc />
    public IReadOnlyList<double> Ratios(int carriers, long step, Random random)
    {
        PrefixRatioRange.ValidateCarriers(carriers);
        PrefixRatioRange.ValidateStep(step);
        double r = MaxRatio * (1 - Math.Min((double)step / Steps, 1));
        return Enumerable.Repeat(r, carriers).ToArray();
    }
}
