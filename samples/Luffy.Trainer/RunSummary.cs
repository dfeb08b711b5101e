using Luffy.Trainer.Training;

namespace Luffy.Trainer;

/// <summary>What a finished (or interrupted) run reports.</summary>
public sealed record RunSummary(string Mode, int Seed, EvalPoint Base, EvalPoint Final, IReadOnlyList<EvalPoint> History, IReadOnlyList<StepRecord> Steps, bool Cancelled, TimeSpan Elapsed, string? LevelLabel)
{
    public double RolloutTokensPerSecond => Steps.Sum(s => (double)s.RolloutTokens) / Math.Max(1e-9, Steps.Sum(s => s.RolloutTokensPerSecond > 0 ? s.RolloutTokens / s.RolloutTokensPerSecond : 0));

    public double TrainTokensPerSecond => Steps.Sum(s => (double)s.TrainTokens) / Math.Max(1e-9, Steps.Sum(s => s.TrainTokensPerSecond > 0 ? s.TrainTokens / s.TrainTokensPerSecond : 0));
}
