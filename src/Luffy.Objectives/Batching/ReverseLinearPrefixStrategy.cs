namespace Luffy.Objectives.Batching;

/// <summary>r = end·min(step/S, 1) for every carrier: guidance grows linearly over S steps ("reverse_linear").</summary>
public sealed class ReverseLinearPrefixStrategy : IPrefixRatioStrategy
{
    /// <summary>Creates the strategy.</summary>
    /// <param name="steps">S ≥ 1, the steps over which the ratio grows to <paramref name="end"/>.</param>
    /// <param name="end">The ratio from step S on, in [0, 1]. The default is 0.8.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    public ReverseLinearPrefixStrategy(long steps, double end = 0.8)
    {
        PrefixRatioRange.ValidateSteps(steps);
        PrefixRatioRange.Validate(0, end);
        Steps = steps;
        MaxRatio = end;
    }

    /// <summary>S, the ramp length in steps.</summary>
    public long Steps { get; }

    /// <inheritdoc />
    public string Name => $"reverse_linear(S={Steps},end={MaxRatio})";

    /// <inheritdoc />
    public double MinRatio => 0;

    /// <inheritdoc />
    public double MaxRatio { get; }

    /// <inheritdoc />
    public IReadOnlyList<double> Ratios(int carriers, long step, Random random)
    {
        PrefixRatioRange.ValidateCarriers(carriers);
        PrefixRatioRange.ValidateStep(step);
        double r = MaxRatio * Math.Min((double)step / Steps, 1);
        return Enumerable.Repeat(r, carriers).ToArray();
    }
}
