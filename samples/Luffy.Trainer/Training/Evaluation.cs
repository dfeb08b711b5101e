namespace Luffy.Trainer.Training;

/// <summary>What a task's evaluation reports: accuracy per split (the primary split first) and further named measures.</summary>
public sealed record Evaluation(IReadOnlyList<SplitAccuracy> Splits, IReadOnlyDictionary<string, double> Measures);
