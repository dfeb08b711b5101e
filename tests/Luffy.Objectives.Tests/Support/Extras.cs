namespace Luffy.Objectives.Tests.Support;

/// <summary>The optional inputs a loss test passes.</summary>
[Flags]
public enum Extras
{
    None = 0,
    Reference = 1,
    Entropy = 2,
    TraceProbabilities = 4,
    RolloutWeights = 8,
    TraceLogProbs = 16,
}
