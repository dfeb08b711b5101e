namespace Luffy.Trainer.Training;

/// <summary>Metrics of one rollout step: one line of metrics.jsonl, and the TensorBoard scalars of that step.</summary>
public sealed record StepRecord
{
    public int Step { get; init; }
    public string Mode { get; init; } = "";
    public string Phase { get; init; } = "";
    public int Seed { get; init; }
    public double Loss { get; init; }
    public bool Skipped { get; init; }
    public double LearningRate { get; init; }
    public double GradNorm { get; init; }
    public int Updates { get; init; }
    public double OnPolicyReward { get; init; }
    public double TraceReward { get; init; }
    public double OnPolicyLoss { get; init; }
    public double OffPolicyLoss { get; init; }
    public double OffPolicyProbability { get; init; }
    public double OffRatioMean { get; init; }
    public double ClipFraction { get; init; }
    public double PpoKl { get; init; }
    public double SftLoss { get; init; }
    public double Entropy { get; init; }
    public double KlFromReference { get; init; }
    public int InformativeGroups { get; init; }
    /// <summary>ExGRPO: members replayed from the experience buffer in this step's batch.</summary>
    public int ReplayedSamples { get; init; }

    /// <summary>ExGRPO: the share of the step's groups that replay a stored trajectory (n_exp / B).</summary>
    public double ReplayShare { get; init; }

    /// <summary>ExGRPO: questions with a stored trajectory after the step.</summary>
    public int ExperienceQuestions { get; init; }

    /// <summary>ExGRPO: stored trajectories after the step.</summary>
    public int ExperienceTrajectories { get; init; }

    /// <summary>ExGRPO: questions retired (a whole group correct) so far.</summary>
    public int RetiredQuestions { get; init; }

    /// <summary>ExGRPO: whether the warm-up had ended by the end of the step.</summary>
    public bool ReplayStarted { get; init; }

    /// <summary>ExGRPO: questions per bucket k = 1..G − 1 after the step, or <see langword="null"/> for the other methods.</summary>
    public int[]? ExperienceBuckets { get; init; }

    public int SolveNone { get; init; }
    public int SolveAll { get; init; }
    public double MeanOnResponseLength { get; init; }
    public int TruncatedResponses { get; init; }
    public double RolloutTokensPerSecond { get; init; }
    public double TrainTokensPerSecond { get; init; }
    public long RolloutTokens { get; init; }
    public long TrainTokens { get; init; }

    /// <summary>Wall-clock seconds of the step, its evaluation included (a resumed run's time is the sum over its steps).</summary>
    public double Seconds { get; init; }

    /// <summary>The evaluation made after this step (accuracy per split, measures), or <see langword="null"/>.</summary>
    public Dictionary<string, double>? Evaluation { get; init; }
}
