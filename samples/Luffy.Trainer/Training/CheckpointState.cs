namespace Luffy.Trainer.Training;

/// <summary>What a checkpoint remembers besides the weights and the optimizer state.</summary>
public sealed record CheckpointState(int Step, string Mode, int Seed, string Fingerprint, List<EvalPoint> History, List<StepRecord> Steps);
