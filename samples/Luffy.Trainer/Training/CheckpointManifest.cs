namespace Luffy.Trainer.Training;

/// <summary>The manifest of a checkpoint folder: every file with its size and SHA-256, the step and the settings' fingerprint.</summary>
public sealed record CheckpointManifest(int Step, string Fingerprint, List<ManifestEntry> Files);
