namespace Luffy.Trainer.Training;

/// <summary>Another trainer holds the lock of a run folder.</summary>
public sealed class RunLockedException(string runDirectory, Exception inner)
    : IOException($"another trainer is writing to {runDirectory} (it holds {Path.Combine(runDirectory, RunLock.FileName)}); wait for it to finish or use another --output.", inner);
