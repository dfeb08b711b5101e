namespace Luffy.Trainer.Training;

/// <summary>Accuracy of one split.</summary>
public sealed record SplitAccuracy(string Split, double Accuracy, IReadOnlyDictionary<int, double> ByLevel, IReadOnlyList<Example> Examples);
