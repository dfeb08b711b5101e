namespace Luffy.Objectives.Losses;

/// <summary>The layout of the raw metric vector (float64 sums and counts) that both kernels fill and <see cref="PolicyLossMetrics"/> reads.</summary>
internal static class MetricSlots
{
    public const int Loss = 0;
    public const int PolicyLoss = 1;
    public const int OnLossSum = 2;
    public const int OnCount = 3;
    public const int OffLossSum = 4;
    public const int OffCount = 5;
    public const int ClippedCount = 6;
    public const int ClippedLowerCount = 7;
    public const int PpoKlSum = 8;
    public const int ScopeCount = 9;
    public const int OffProbabilitySum = 10;
    public const int OnProbabilitySum = 11;
    public const int RatioSum = 12;
    public const int MaxClampedCount = 13;
    public const int MinClampedCount = 14;
    public const int AllMaxClippedCount = 15;
    public const int PolicyCount = 16;
    public const int SftSum = 17;
    public const int SftCount = 18;
    public const int EntropySum = 19;
    public const int KlSum = 20;
    public const int ResponseCount = 21;
    public const int Count = 22;
}
