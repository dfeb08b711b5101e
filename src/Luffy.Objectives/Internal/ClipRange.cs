namespace Luffy.Objectives.Internal;

/// <summary>The range checks of the clip settings that several objectives share (the message names the setting and the range).</summary>
internal static class ClipRange
{
    /// <summary>An ε_low of a ratio clip [1 − ε_low, …]: in [0, 1), so that the lower bound stays positive.</summary>
    public static double RatioLow(double value, string name) =>
        value >= 0 && value < 1 ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be in [0, 1).");

    /// <summary>An ε that only has to be a finite number ≥ 0 (an upper ratio bound, or either bound of a log-ratio clip).</summary>
    public static double NonNegative(double value, string name) =>
        value >= 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number >= 0.");
}
