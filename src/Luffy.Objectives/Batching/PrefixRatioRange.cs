namespace Luffy.Objectives.Batching;

/// <summary>Validation shared by the strategies that take a ratio range or a schedule length.</summary>
internal static class PrefixRatioRange
{
    public static void Validate(double min, double max)
    {
        if (!(min >= 0 && min <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(min), min, "min must be in [0, 1].");
        }
        if (!(max >= min && max <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(max), max, $"max must be in [min, 1] = [{min}, 1].");
        }
    }

    public static void ValidateSteps(long steps)
    {
        if (steps < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(steps), steps, "steps must be >= 1.");
        }
    }

    public static void ValidateCarriers(int carriers)
    {
        if (carriers < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(carriers), carriers, "carriers must be >= 1 (the number of trace carriers in the group).");
        }
    }

    public static void ValidateStep(long step)
    {
        if (step < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, "step must be >= 0.");
        }
    }
}
