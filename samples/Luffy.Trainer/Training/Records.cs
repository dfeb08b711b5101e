namespace Luffy.Trainer.Training;

/// <summary>Metrics of one optimizer step (one JSONL line).</summary>
public sealed record StepRecord
{
    public int Step { get; init; }
    public string Mode { get; init; } = "";
    public int Seed { get; init; }
    public double Loss { get; init; }
    public bool Skipped { get; init; }
    public double LearningRate { get; init; }
    public double GradNorm { get; init; }
    public double OnPolicyReward { get; init; }
    public double TraceReward { get; init; }
    public double OnPolicyLoss { get; init; }
    public double OffPolicyLoss { get; init; }
    public double OffPolicyProbability { get; init; }
    public double OffRatioMean { get; init; }
    public double Entropy { get; init; }
    public int SolveNone { get; init; }
    public int SolveAll { get; init; }
    public double MeanOnResponseLength { get; init; }
    public int TruncatedResponses { get; init; }
    public double RolloutTokensPerSecond { get; init; }
    public double TrainTokensPerSecond { get; init; }
    public long RolloutTokens { get; init; }
    public long TrainTokens { get; init; }
    public double? InDistributionAccuracy { get; init; }
    public double? OutOfDistributionAccuracy { get; init; }
}

/// <summary>An evaluation point of a run.</summary>
public sealed record EvalPoint(int Step, double InDistribution, double OutOfDistribution, Dictionary<int, double> ByLevel)
{
    /// <summary>A few greedy answers per level (not written to checkpoints' history when empty).</summary>
    public List<Example> Examples { get; init; } = [];
}
