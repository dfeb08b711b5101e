namespace Luffy.Trainer.Training;

/// <summary>An evaluation of a run's model after <see cref="Step"/> steps (0 = the base model).</summary>
/// <param name="Step">The step.</param>
/// <param name="Accuracy">Greedy accuracy per test split, the primary split first (in-distribution).</param>
/// <param name="ByLevel">Greedy accuracy per difficulty level (the in-distribution and the long-chain levels).</param>
/// <param name="Measures">Further measures of the task (process validity, pass@k, entropy, trace log-likelihood).</param>
public sealed record EvalPoint(int Step, Dictionary<string, double> Accuracy, Dictionary<int, double> ByLevel, Dictionary<string, double> Measures)
{
    /// <summary>A few greedy answers per level (not written to checkpoints' history when empty).</summary>
    public List<Example> Examples { get; init; } = [];

    /// <summary>Greedy accuracy per difficulty level of each split (empty in checkpoints written before it existed).</summary>
    public Dictionary<string, Dictionary<int, double>> SplitLevels { get; init; } = [];

    /// <summary>The per-level accuracy of <paramref name="split"/> (empty when unknown).</summary>
    public Dictionary<int, double> LevelsOf(string split) => SplitLevels.TryGetValue(split, out Dictionary<int, double>? levels) ? levels : [];

    /// <summary>The primary split's accuracy (in-distribution), NaN when there is none.</summary>
    public double InDistribution => Accuracy.Count == 0 ? double.NaN : Accuracy.First().Value;

    /// <summary>A split's accuracy or a measure by name, NaN when absent.</summary>
    public double this[string name] => Accuracy.TryGetValue(name, out double a) ? a : Measures.TryGetValue(name, out double m) ? m : double.NaN;

    /// <summary>Accuracy and measures as one flat dictionary (the evaluation fields of metrics.jsonl and TensorBoard).</summary>
    public Dictionary<string, double> Flatten() => Accuracy.Select(p => new KeyValuePair<string, double>("accuracy/" + p.Key, p.Value))
        .Concat(ByLevel.Select(p => new KeyValuePair<string, double>($"accuracy/level-{p.Key}", p.Value)))
        .Concat(Measures)
        .ToDictionary(p => p.Key, p => p.Value);
}
