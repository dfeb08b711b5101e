namespace Luffy.Trainer.Training;

/// <summary>One file of a checkpoint as its manifest records it.</summary>
public sealed record ManifestEntry(string Name, long Size, string Sha256);
